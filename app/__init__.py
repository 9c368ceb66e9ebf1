"""The experiment server: FastAPI over HTTPS on Redis.

Owns the HTTP routes (`app.routes`), the operations both the routes and the hot paths call
(`app.service`), request validation (`app.validation`, `kernel.ids`), allocation and responses
(`kernel.assignments`, `kernel.responses`), tokens, settings, errors, the loader, export and admin
actions, and the store (`kernel.store`). May import `studies` (the kind of a link) and
`platforms` (how a participant arrives and finishes); never `analysis` or `simulation`
(except `cli`, the composition root that gathers every part's commands).
"""
