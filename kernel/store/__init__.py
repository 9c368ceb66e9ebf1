"""The store: every Redis key (`keys`), the Lua scripts (`lua/`, `scripts`), the hot-path
client (`fastredis`, single Redis or Cluster), the client factory for everything else
(`connect`) and the embedded redis-server with its data-folder lock (`redis_server`).

Owns how data is laid out in Redis and how the server reaches it. May import `kernel.errors` and
`kernel.settings` only; the rest of the system imports from here, never the other way round.
"""
