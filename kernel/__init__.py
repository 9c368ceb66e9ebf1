"""The kernel: what every other part of mvt-server stands on, importing none of them.

Owns the store (`kernel.store`: key schema, Lua scripts, clients, the embedded redis-server),
ids, errors and the table of refusal reasons, the study an experiment was loaded with, settings, tokens, allocation and placement,
responses, client limits, signed video URLs, export and admin actions. Imports no other package
of the project; `app` (the HTTP server), `studies`, `platforms`, `analysis`, `stimuli`,
`simulation` and the CLI (`cli`) import it.
"""
