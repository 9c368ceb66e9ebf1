"""Per-client limits on new allocations and on eligibility questions, kept in Redis.

Anyone can invent worker and assignment ids, so a single client could otherwise take every list
of a study in a minute and hold them for the allotted time. The limits are per client address
(the ASGI scope's client: the peer, or behind a proxy in ``MVT_TRUSTED_PROXIES`` /
``--forwarded-allow-ips`` the rightmost untrusted ``X-Forwarded-For`` entry, `app.serve.proxy_options`) and per (address, worker id), in Redis so that
every server process and host shares them. One script (``ratelimit.lua``) checks them all and
charges them only together; it runs in the same write to Redis as the allocation's first script,
so a request costs no extra round trip.

=============================  ===================  ==========================================  =============
limit (``MVT_…``)              per                  default                                     a lab of 30
=============================  ===================  ==========================================  =============
LIMIT_ASSIGNMENTS_PER_MINUTE   client               60 a minute, bucket of 120                  30 starts +
                               (address)            (``POST /api/assignments``, new or resume)  60 reloads
LIMIT_ASSIGNMENTS_PER_WORKER   client + worker id   10 a minute, bucket of 20                   a few reloads
_PER_MINUTE
LIMIT_HELD_PER_CLIENT          client               100 unfinished assignments at once (each    30
                                                    held until completed or MVT_ALLOTTED_MINUTES)
LIMIT_ELIGIBILITY_PER_MINUTE   client               600 a minute, bucket of 1,200               HIT browsing
LIMIT_ELIGIBILITY_PER_WORKER   client + worker id   60 a minute, bucket of 120
_PER_MINUTE
=============================  ===================  ==========================================  =============

Every bucket holds two minutes' worth. 0 turns a limit off. A refused request gets
`RateLimited` (429, ``Retry-After``) and changes nothing.
"""

from __future__ import annotations

import math

from kernel.errors import RateLimited
from kernel.settings import Settings
from kernel.store import keys
from kernel.store.scripts import scripts_for

UNKNOWN_CLIENT = "unknown"


def client_ip(scope) -> str:
    """The client address of an ASGI ``scope`` (after uvicorn's ``--proxy-headers`` rewrite)."""
    client = scope.get("client")
    return client[0] if client and client[0] else UNKNOWN_CLIENT


def _buckets(ip: str, name: str, worker_id: str, per_minute: int, per_worker_per_minute: int):
    found = []
    if per_minute:
        found.append((keys.limit_bucket(ip, name), per_minute))
    if per_worker_per_minute:
        found.append((keys.limit_worker_bucket(ip, name, worker_id), per_worker_per_minute))
    return found


async def _admit(r, ip: str, buckets, held: int, member: str, window_ms: int, now_ms: int, what: str) -> None:
    hold = bool(held and member)
    if not buckets and not hold:
        return
    keys_ = [k for k, _ in buckets] + ([keys.limit_held(ip)] if hold else [])
    args = [now_ms, member if hold else "", held, window_ms]
    for _, per_minute in buckets:
        args += [per_minute, 2 * per_minute]
    wait_ms, which = await scripts_for(r).ratelimit(keys=keys_, args=args)
    if int(wait_ms) == 0:
        return
    retry_after_s = max(1, math.ceil(int(wait_ms) / 1000))
    if int(which) > len(buckets):
        message = (f"this address already holds {held} unfinished tasks, the most one address may hold; "
                   f"try again in {retry_after_s} s")
    else:
        message = f"too many {what} from this address; try again in {retry_after_s} s"
    raise RateLimited(message, retry_after_s)


async def admit_assignment(r, settings: Settings, ip: str, worker_id: str, assignment_id: str,
                           now_ms: int) -> None:
    """Charge a ``POST /api/assignments`` to its client and hold ``assignment_id``; raises `RateLimited`."""
    buckets = _buckets(ip, "assignments", worker_id, settings.limit_assignments_per_minute,
                       settings.limit_assignments_per_worker_per_minute)
    await _admit(r, ip, buckets, settings.limit_held_per_client, assignment_id,
                 settings.allotted_minutes * 60_000, now_ms, "task requests")


async def admit_eligibility(r, settings: Settings, ip: str, worker_id: str, now_ms: int) -> None:
    """Charge a ``GET /api/eligibility`` to its client; raises `RateLimited`."""
    buckets = _buckets(ip, "eligibility", worker_id, settings.limit_eligibility_per_minute,
                       settings.limit_eligibility_per_worker_per_minute)
    await _admit(r, ip, buckets, 0, "", 0, now_ms, "eligibility checks")


async def release(r, settings: Settings, ip: str, assignment_id: str) -> None:
    """The client no longer holds ``assignment_id`` (completed, refused, or a finished one resumed)."""
    if settings.limit_held_per_client:
        await r.execute_command("ZREM", keys.limit_held(ip), assignment_id)
