"""MTurk operations through boto3: safe by default (dry run), never twice (Redis ledger).

Each operation is a function taking the boto3 ``mturk`` client and the Redis client; the
``mvt mturk`` commands (``platforms/mturk/commands.py``) are a thin layer over them.
"""
