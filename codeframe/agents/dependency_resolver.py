"""The task dependency graph: what may run now, what a completion frees, what a loss dooms.

Pure and synchronous, so the lead agent can ask it anything between two awaits without
yielding the loop. Every walk is iterative — a 10,000-task chain must not hit Python's
recursion limit — and linear in tasks plus edges, except where ids must come out sorted.
An edge ``a → b`` means *a depends on b*; ids that no task carries ("missing") are kept as
dependencies, so their dependents stay blocked until the caller decides what to do.
"""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from typing import Any

from codeframe.core.models import parse_depends_on
from codeframe.errors import DependencyCycleError, InvalidInputError

logger = logging.getLogger(__name__)


def _fields(task: Any) -> Mapping[str, Any]:
    """A task's fields, whether it is a dict (database rows), a Mapping or a Task object."""
    if isinstance(task, dict | Mapping):  # dict first: the ABC check is slow
        return task
    return {name: getattr(task, name, None) for name in ("id", "status", "depends_on")}


class DependencyResolver:
    """A DAG of task dependencies with the queries a scheduler needs."""

    def __init__(self) -> None:
        self.dependencies: defaultdict[int, set[int]] = defaultdict(set)
        self.dependents: defaultdict[int, set[int]] = defaultdict(set)
        self.completed_tasks: set[int] = set()
        self.all_tasks: set[int] = set()

    # -- building --------------------------------------------------------------------

    def build_dependency_graph(self, tasks: Iterable[Any]) -> None:
        """Replace the graph with ``tasks`` (dicts or Task objects); raise on a cycle.

        After an error the state holds the graph as read, so ``find_cycle()`` can be asked.
        """
        self.clear()
        rows: list[tuple[int, Any]] = []
        for task in tasks:
            fields = _fields(task)
            task_id = fields.get("id")
            if task_id is None:
                raise InvalidInputError(f"A task without an id cannot be scheduled: {task!r}")
            self.all_tasks.add(task_id)
            if fields.get("status") == "completed":
                self.completed_tasks.add(task_id)
            rows.append((task_id, fields.get("depends_on")))

        self_dependent: int | None = None
        for task_id, raw in rows:
            try:
                dep_ids = parse_depends_on(raw)
            except ValueError:
                logger.warning("task %s: unreadable depends_on %r, treated as none", task_id, raw)
                continue
            for dep_id in dep_ids:
                if dep_id == task_id and self_dependent is None:
                    self_dependent = task_id
                self.dependencies[task_id].add(dep_id)
                self.dependents[dep_id].add(task_id)

        if self_dependent is not None:
            raise DependencyCycleError(
                f"Task {self_dependent} cannot depend on itself (self-dependency)"
            )
        cycle = self.find_cycle()
        if cycle is not None:
            raise DependencyCycleError(
                "Circular dependencies detected: " + " → ".join(map(str, cycle))
            )
        missing = self.missing_dependencies()
        if missing:
            logger.warning(
                "%d task(s) depend on ids that are not in the graph: %s", len(missing), missing
            )
        logger.debug(
            "dependency graph: %d tasks, %d edges",
            len(self.all_tasks),
            sum(len(deps) for deps in self.dependencies.values()),
        )

    def clear(self) -> None:
        self.dependencies.clear()
        self.dependents.clear()
        self.completed_tasks.clear()
        self.all_tasks.clear()

    # -- scheduling queries ------------------------------------------------------------

    def get_ready_tasks(self, exclude_completed: bool = True) -> list[int]:
        """Ascending ids whose dependencies are all completed (a missing id never is)."""
        done = self.completed_tasks
        return sorted(
            task_id
            for task_id in self.all_tasks
            if not (exclude_completed and task_id in done)
            and self.dependencies.get(task_id, set()) <= done
        )

    def unblock_dependent_tasks(self, completed_task_id: int) -> list[int]:
        """Record a completion; the unfinished dependents it leaves fully satisfied, ascending."""
        self.completed_tasks.add(completed_task_id)
        done = self.completed_tasks
        return sorted(
            task_id
            for task_id in self.dependents.get(completed_task_id, set())
            if task_id not in done and self.dependencies.get(task_id, set()) <= done
        )

    def get_blocked_tasks(self) -> dict[int, list[int]]:
        """Unfinished tasks mapped to their unfinished dependencies (ascending)."""
        blocked: dict[int, list[int]] = {}
        for task_id in sorted(self.all_tasks - self.completed_tasks):
            waiting = self.dependencies.get(task_id, set()) - self.completed_tasks
            if waiting:
                blocked[task_id] = sorted(waiting)
        return blocked

    def missing_dependencies(self) -> dict[int, list[int]]:
        """Tasks mapped to the ids they depend on that no task in the graph carries."""
        missing: dict[int, list[int]] = {}
        for task_id in sorted(self.dependencies):
            unknown = self.dependencies[task_id] - self.all_tasks
            if unknown:
                missing[task_id] = sorted(unknown)
        return missing

    def dependents_closure(self, task_id: int) -> list[int]:
        """Every task that depends on ``task_id``, directly or through others, ascending."""
        seen: set[int] = set()
        queue = deque([task_id])
        while queue:
            for dependent in self.dependents.get(queue.popleft(), ()):
                if dependent not in seen:
                    seen.add(dependent)
                    queue.append(dependent)
        seen.discard(task_id)  # only possible in a graph mutated into a cycle
        return sorted(seen)

    def get_dependency_depth(self, task_id: int) -> int:
        """The longest chain of dependencies below ``task_id`` (0 if none or unknown)."""
        if task_id not in self.all_tasks:
            return 0
        depth: dict[int, int] = {}
        on_path: set[int] = set()
        # Post-order walk with an explicit stack: (node, children already pushed?).
        stack: list[tuple[int, bool]] = [(task_id, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                on_path.discard(node)
                depth[node] = max(
                    (1 + depth.get(dep, 0) for dep in self.dependencies.get(node, ())),
                    default=0,
                )
                continue
            if node in depth or node in on_path:
                continue  # done already, or a back edge of a mutated, cyclic graph
            on_path.add(node)
            stack.append((node, True))
            stack.extend((dep, False) for dep in self.dependencies.get(node, ()))
        return depth[task_id]

    # -- graph shape -------------------------------------------------------------------

    def _in_degrees(self) -> dict[int, int]:
        # Only edges between known tasks order anything; a missing id is not in the graph.
        return {
            task_id: len(self.dependencies.get(task_id, set()) & self.all_tasks)
            for task_id in self.all_tasks
        }

    def _kahn_leftover(self) -> set[int]:
        """Tasks Kahn's algorithm cannot order: empty exactly when the graph is acyclic."""
        in_degree = self._in_degrees()
        queue = deque(t for t, n in in_degree.items() if n == 0)
        while queue:
            for dependent in self.dependents.get(queue.popleft(), ()):
                if dependent in in_degree:
                    in_degree[dependent] -= 1
                    if in_degree[dependent] == 0:
                        queue.append(dependent)
        return {t for t, n in in_degree.items() if n > 0}

    def find_cycle(self) -> list[int] | None:
        """One cycle as a closed path starting at its smallest id (``[1, 2, 1]``), or None.

        Each step follows "depends on". Every task Kahn's algorithm leaves over still waits
        on another leftover task, so walking those must come back on itself.
        """
        leftover = self._kahn_leftover()
        if not leftover:
            return None
        path: list[int] = []
        position: dict[int, int] = {}
        node = min(leftover)
        while node not in position:
            position[node] = len(path)
            path.append(node)
            node = min(self.dependencies.get(node, set()) & leftover)
        cycle = path[position[node] :]
        start = cycle.index(min(cycle))
        cycle = cycle[start:] + cycle[:start]
        return [*cycle, cycle[0]]

    def detect_cycles(self) -> bool:
        return bool(self._kahn_leftover())

    def validate_dependency(self, task_id: int, depends_on_id: int) -> bool:
        """Would ``task_id → depends_on_id`` keep the graph acyclic? The graph is not changed."""
        if task_id == depends_on_id:
            raise DependencyCycleError(f"Task {task_id} cannot depend on itself (self-dependency)")
        if self.detect_cycles():
            return False
        # The edge closes a cycle exactly when depends_on_id already leads back to task_id.
        seen = {depends_on_id}
        queue = deque([depends_on_id])
        while queue:
            for dep in self.dependencies.get(queue.popleft(), ()):
                if dep == task_id:
                    logger.debug("task %s → %s would close a cycle", task_id, depends_on_id)
                    return False
                if dep not in seen:
                    seen.add(dep)
                    queue.append(dep)
        return True

    def topological_sort(self) -> list[int] | None:
        """All tasks, dependencies first, ties by smallest id; None on a cycle."""
        in_degree = self._in_degrees()
        heap = [t for t, n in in_degree.items() if n == 0]
        heapq.heapify(heap)
        order: list[int] = []
        while heap:
            task_id = heapq.heappop(heap)
            order.append(task_id)
            for dependent in self.dependents.get(task_id, ()):
                if dependent in in_degree:
                    in_degree[dependent] -= 1
                    if in_degree[dependent] == 0:
                        heapq.heappush(heap, dependent)
        if len(order) < len(in_degree):
            logger.error("no topological order: the dependency graph has a cycle")
            return None
        return order


__all__ = ["DependencyResolver", "parse_depends_on"]
