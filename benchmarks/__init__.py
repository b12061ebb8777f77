"""codeframe's performance benchmarks: ``make bench`` runs ``benchmarks.run``.

A package so each scenario can run in a fresh interpreter as
``python -m benchmarks.scenarios <name> <json-params>`` and the smoke tests can import it.
"""
