"""The embedded redis-server: started on a unix socket with AOF, stopped by whoever started it."""

import redis as redis_py

from kernel.store import keys
from kernel.store.redis_server import EmbeddedRedis, open_redis, socket_path
from kernel.settings import Settings


def test_open_redis_starts_and_stops_an_embedded_server_with_aof(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", redis_url=None)
    with open_redis(settings) as r:
        r.set("k", "v")
        assert r.config_get("appendonly") == {"appendonly": "yes"}
        assert socket_path(settings.data_dir).exists()
        with open_redis(settings) as again:  # a second user reuses it and does not stop it
            assert again.get("k") == "v"
        assert r.get("k") == "v"
    assert not EmbeddedRedis(settings.data_dir).running()
    with open_redis(settings) as r:  # the data survived the restart
        assert r.get("k") == "v"


def test_open_redis_uses_the_url_when_set(redis_url, redis):
    redis.set("here", "1")
    with open_redis(Settings(_env_file=None, redis_url=redis_url)) as r:
        assert r.get("here") == "1"


def test_acknowledged_writes_survive_kill_9(tmp_path):
    server = EmbeddedRedis(tmp_path / "data")
    server.start()
    client = redis_py.Redis.from_url(server.url, decode_responses=True)
    client.hset(keys.link_responses("L"), "A1:0", '{"response":"cat"}')
    client.close()
    server.process.kill()
    server.process.wait()
    server.process = None
    with open_redis(Settings(_env_file=None, data_dir=tmp_path / "data", redis_url=None)) as r:
        assert r.hget(keys.link_responses("L"), "A1:0") == '{"response":"cat"}'
