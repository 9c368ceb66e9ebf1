"""The Lua scripts in ``kernel/store/lua/``, registered once per client, and their refusal codes.

Each script touches the keys of one hash slot only (a link's, or a worker's), so they stay
valid on Redis Cluster. Time comes from the server process as an argument, so every server
sharing a Redis must keep its clock synchronised (NTP); scripts never call ``TIME``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

SCRIPT_NAMES = ("reserve", "allocate", "record", "complete", "replace", "ratelimit", "start", "video", "link_status")


def script_source(name: str) -> str:
    """The text of ``kernel/store/lua/<name>.lua``."""
    return resources.files("kernel.store.lua").joinpath(f"{name}.lua").read_text()


@dataclass(frozen=True)
class Scripts:
    """Registered scripts of one client (sync ``redis.Redis`` or ``redis.asyncio.Redis``)."""

    reserve: Any
    allocate: Any
    record: Any
    complete: Any
    replace: Any
    ratelimit: Any
    start: Any
    video: Any
    link_status: Any


def scripts_for(r) -> Scripts:
    """The scripts registered on client ``r``, registering them on first use."""
    found = getattr(r, "_mvt_scripts", None)
    if found is None:
        found = Scripts(**{name: r.register_script(script_source(name)) for name in SCRIPT_NAMES})
        r._mvt_scripts = found
    return found
