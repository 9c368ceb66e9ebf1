"""The store factory: the right client for every URL, the old global key names moved."""

from __future__ import annotations

from redis.cluster import RedisCluster

from studies.loader import load_experiment
from kernel.settings import Settings
from kernel.store import keys
from kernel.store.connect import client_from_url, describe, upgrade_legacy_keys
from kernel.store.redis_server import open_redis


def test_the_factory_gives_redis_cluster_for_any_node_of_a_cluster(local_cluster, single_redis_url):
    replica = f"redis://127.0.0.1:{local_cluster.ports[-1]}"
    assert isinstance(client_from_url(replica), RedisCluster)
    assert not isinstance(client_from_url(single_redis_url), RedisCluster)
    assert describe(client_from_url(replica), replica) == f"{replica} (Redis Cluster, 3 masters)"
    assert describe(client_from_url(single_redis_url), single_redis_url) == f"{single_redis_url} (single Redis)"


def test_old_global_key_names_are_moved_by_the_next_command(redis, redis_url, synthetic_experiment):
    load_experiment(redis, synthetic_experiment)
    for old, new in keys.LEGACY_GLOBAL_KEYS.items():  # a store written before the keys had a hash tag
        if redis.exists(new):
            redis.rename(new, old)
    redis.hset("mvt:assignment-links", mapping={"A1": "synth-001", "A2": "synth-002"})
    redis.hset(keys.assignment_links(), "A2", "synth-001")  # written meanwhile under the new name: it stays
    redis.sadd("mvt:blocked", "W9")
    with open_redis(Settings(_env_file=None, redis_url=redis_url)):
        pass
    assert [old for old in keys.LEGACY_GLOBAL_KEYS if redis.exists(old)] == []
    assert redis.smembers(keys.links_index()) == {"synth-001", "synth-002"}
    assert redis.hgetall(keys.assignment_links()) == {"A1": "synth-001", "A2": "synth-001"}
    assert redis.smembers(keys.blocked_index()) == {"W9"}
    assert upgrade_legacy_keys(redis) == []
