"""The store: every Redis key (`keys`), the Lua scripts (`lua/`, `scripts`), the hot-path
client (`fastredis`) and the embedded redis-server (`redis_server`).

Owns how data is laid out in Redis and how the server reaches it. May import `app.errors` and
`app.settings` only; the rest of the system imports from here, never the other way round.
"""
