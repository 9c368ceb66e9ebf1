"""Origins of URLs: what a Content-Security-Policy or a postMessage target compares."""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"
