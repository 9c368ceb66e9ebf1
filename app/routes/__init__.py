"""HTTP routes by audience: `api` (the worker's browser), `pages` (worker pages and MTurk
stand-ins), `admin` (the experimenter, bearer token). Routes parse and answer; the work is in
`app.service` and the library modules."""
