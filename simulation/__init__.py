"""Simulated workers, throwaway local stacks and the audit: tooling for load, fault and
statistics runs (``mvt simulate``, ``scripts/bench_load``, ``scripts/fault_test``).

Drives the server only from outside (HTTP, processes) and reads the store to audit it. May
import `app` (settings, the store, export), `analysis`, and `stimuli` (rating designs without
media, `simulation.ratings`); nothing in `app` imports this.
"""
