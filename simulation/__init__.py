"""Simulated workers, throwaway local stacks and the audit: tooling for load, fault and
statistics runs (``mvt simulate``, ``scripts/bench_load``, ``scripts/fault_test``).

Drives the server only from outside (HTTP, processes) and reads the store to audit it. Holds the
answer models study kinds choose from (`studies.base.StudyKind.simulated_answers`): MVT
recognition (`simulation.workers`) and raters (`simulation.raters`). May import `kernel`,
`analysis` and `stimuli` (rating designs without media); the ``mvt simulate`` command is the
CLI's (`cli.simulate`).
"""
