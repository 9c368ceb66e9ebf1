"""Clients off the hot path (CLI, loader, admin, analysis, export): one factory for every URL.

`client_from_url` gives redis-py's ``Redis`` for a single Redis and ``RedisCluster`` when the URL
names any node of a Redis Cluster (detected with ``CLUSTER INFO``), so callers never choose.
`upgrade_legacy_keys` moves the global keys of stores written before they had a hash tag.
"""

from __future__ import annotations

import redis as redis_py
from redis.cluster import RedisCluster

from kernel.store import keys


def is_cluster(url: str, timeout_s: float = 2.0) -> bool:
    """Whether ``url`` names a node of a Redis Cluster (a unix socket never does)."""
    if url.startswith("unix:"):
        return False
    probe = redis_py.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        info = probe.execute_command("CLUSTER", "INFO")
    except redis_py.ResponseError:
        return False  # "cluster support disabled"
    finally:
        probe.close()
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_enabled:0" not in text


def client_from_url(url: str, *, timeout_s: float | None = None, **kwargs) -> redis_py.Redis | RedisCluster:
    """A client (decode_responses=True) for ``url``: ``RedisCluster`` when it names a cluster node.

    ``timeout_s`` bounds connecting and every command (``MVT_REDIS_TIMEOUT_S``).
    """
    if timeout_s is not None:
        kwargs.setdefault("socket_timeout", timeout_s)
        kwargs.setdefault("socket_connect_timeout", timeout_s)
    if is_cluster(url, timeout_s or 2.0):
        return RedisCluster.from_url(url, decode_responses=True, **kwargs)
    return redis_py.Redis.from_url(url, decode_responses=True, **kwargs)


def describe(client: redis_py.Redis | RedisCluster, url: str) -> str:
    """What store ``client`` is, for the first line a command prints: ``redis://host:port (cluster, 3 masters)``."""
    shown = redact(url)
    if isinstance(client, RedisCluster):
        return f"{shown} (Redis Cluster, {len(client.get_primaries())} masters)"
    return f"{shown} (single Redis)"


def redact(url: str) -> str:
    """``url`` without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def upgrade_legacy_keys(r: redis_py.Redis | RedisCluster) -> list[str]:
    """Move the global keys from their names without a hash tag (`keys.LEGACY_GLOBAL_KEYS`) to the
    current ones, merging with what is there; returns the old names moved. Idempotent.

    Members and fields are copied before the old key is deleted, so an interrupted move is
    finished by the next call; a hash field already under the new name wins.
    """
    moved = []
    for old, new in keys.LEGACY_GLOBAL_KEYS.items():
        kind = r.type(old)
        if kind == "set":
            members = list(r.smembers(old))
            if members:
                r.sadd(new, *members)
        elif kind == "hash":
            for field, value in r.hgetall(old).items():
                r.hsetnx(new, field, value)
        elif kind == "none":
            continue
        else:
            raise ValueError(f"key {old!r} is a {kind}; expected a set or hash written by mvt-server")
        r.delete(old)
        moved.append(old)
    return moved
