"""mvt-server: the experiment server (FastAPI over HTTPS, Redis storage)."""
