"""Prolific operations through its REST API: safe by default (dry run), never twice (Redis ledger).

Each operation is a function taking a `platforms.prolific.client.ProlificClient` and the Redis
client; the ``mvt prolific`` commands (``platforms/prolific/commands.py``) are a thin layer over
them. API reference: https://docs.prolific.com/api-reference/introduction
"""
