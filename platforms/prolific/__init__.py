"""Prolific: participants arrive with ``PROLIFIC_PID``, ``STUDY_ID`` and ``SESSION_ID`` at
``/prolific``; the server places them on a link (`kernel.placement`) and sends them back to
Prolific's completion URL with the study's completion code at the end (`platform`).

Operations go through its REST API, safe by default (dry run) and never twice (Redis ledger):
each operation is a function taking a `platforms.prolific.client.ProlificClient` and the Redis
client; the ``mvt prolific`` commands (``platforms/prolific/commands.py``) are a thin layer over
them. API reference: https://docs.prolific.com/api-reference/introduction
"""
