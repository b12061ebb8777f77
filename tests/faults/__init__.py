"""The fault-injection suite: seeded faults thrown at the whole toolkit, invariants checked.

Five categories, one module each: cancels and interrupts at every step of a run
(``test_cancels``), a run SIGKILLed in a child process and recovered here
(``test_killed_runs``), a corpus of bad model replies and API errors (``test_bad_replies``),
a corpus of bad database files (``test_bad_databases``) and tests that misbehave
(``test_misbehaving_tests``). Every trial is seeded, so a failure is reproduced by its seed.

``make test`` runs a small number of trials; ``make faults`` (``python -m tests.faults``)
runs thousands and writes ``docs/reliability.md``. See :mod:`tests.faults.harness` for the
environment variables that scale and shift the trials.
"""
