"""codeframe.ui: the events agents broadcast, and a recording target for them.

The notebook panel, the other target, lives in :mod:`codeframe.notebook`, so importing this
package never pulls in ipywidgets.
"""

from __future__ import annotations

from codeframe.ui.websocket_broadcasts import BroadcastRecorder, BroadcastTarget

__all__ = ["BroadcastRecorder", "BroadcastTarget"]
