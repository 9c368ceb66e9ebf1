"""The hot-path Redis client: same replies as redis-py, script reloading, reconnection, errors."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from app.store.fastredis import FastRedis, pack


def run(coro):
    return asyncio.run(coro)


def test_pack_is_resp():
    assert pack("SET", "k", 5, b"v") == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$1\r\nv\r\n"


def test_pipeline_replies_match_redis_py(redis, redis_url):
    redis.sadd("s", "a", "b")
    redis.hset("h", "f", "v")
    redis.zadd("z", {"m1": 5, "m2": 7})
    redis.rpush("l", 1, 2, 3)

    async def scenario():
        r = FastRedis(redis_url)
        p = r.pipeline()
        p.exists("s").sismember("s", "a").sismember("s", "x").scard("s").hget("h", "f").hget("h", "nope")
        p.llen("l").zrange("z", 0, 0, withscores=True).hsetnx("h", "f", "w").sadd("s", "c")
        got = await p.execute()
        await r.aclose()
        return got
    assert run(scenario()) == [1, True, False, 2, "v", None, 3, [("m1", 5.0)], False, 1]


def test_scripts_load_themselves_and_errors_are_redis_py_errors(redis, redis_url):
    async def scenario():
        r = FastRedis(redis_url)
        script = r.register_script("return {KEYS[1], ARGV[1], 3}")
        redis.script_flush()
        assert await script(keys=["k"], args=["a"]) == ["k", "a", 3]
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            redis.set("str", "x")
            await r.execute_command("SADD", "str", "m")
        assert await r.ping()  # the connection survives a command error
        await r.aclose()
    run(scenario())


def test_it_reconnects_after_the_connection_is_killed(redis, redis_url):
    async def scenario():
        r = FastRedis(redis_url)
        await r.execute_command("CLIENT", "SETNAME", "fast")
        clients = [c for c in redis.client_list() if c["name"] == "fast"]
        redis.client_kill_filter(_id=clients[0]["id"])
        await asyncio.sleep(0.05)
        assert await r.ping()
        await r.aclose()
    run(scenario())


def test_an_unreachable_server_is_a_connection_error():
    async def scenario():
        r = FastRedis("redis://127.0.0.1:1/0")
        with pytest.raises(RedisConnectionError, match="cannot connect to Redis"):
            await r.ping()
    run(scenario())


def test_urls_with_password_and_db(redis_url, redis):
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    redis.config_set("requirepass", "s3cret")
    try:
        async def scenario():
            r = FastRedis(f"redis://:s3cret@127.0.0.1:{port}/3")
            # Concurrent first commands: all wait for the one connection, all run after AUTH/SELECT.
            await asyncio.gather(*(r.execute_command("SADD", "in-db-3", i) for i in range(20)))
            await r.aclose()
        run(scenario())
        redis.execute_command("AUTH", "s3cret")
        redis.execute_command("SELECT", "3")
        assert redis.scard("in-db-3") == 20
        redis.flushdb()
    finally:
        redis.config_set("requirepass", "")


def test_a_failed_auth_is_retried_on_the_next_command(redis_url, redis):
    """A connection whose AUTH failed is dropped, not kept unauthenticated for every later command."""
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    redis.config_set("requirepass", "old-password")
    try:
        async def scenario():
            r = FastRedis(f"redis://:new-password@127.0.0.1:{port}/0")
            with pytest.raises(ResponseError, match="WRONGPASS|invalid password"):
                await r.ping()
            admin = FastRedis(f"redis://:old-password@127.0.0.1:{port}/0")
            await admin.execute_command("CONFIG", "SET", "requirepass", "new-password")  # e.g. a rotation
            await admin.aclose()
            assert await r.ping()
            await r.aclose()
        run(scenario())
    finally:
        redis.execute_command("AUTH", "new-password")
        redis.config_set("requirepass", "")


def test_a_command_issued_on_a_connection_lost_meanwhile_fails_and_later_replies_stay_matched(redis, redis_url):
    """The window between a connect finishing and its waiter sending: replies must not shift by one."""
    async def scenario():
        r = FastRedis(redis_url)
        await r.execute_command("CLIENT", "SETNAME", "fast")
        old = r._protocol  # what a coroutine resuming from the connect holds
        redis.client_kill_filter(_id=[c for c in redis.client_list() if c["name"] == "fast"][0]["id"])
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(r._send([pack("ECHO", "stale")], old)[0], 2)
        assert await asyncio.wait_for(r.execute_command("ECHO", "fresh"), 2) == "fresh"
        await r.aclose()
    run(scenario())


def test_a_redis_that_never_answers_the_handshake_fails_fast(monkeypatch):
    import time

    import app.store.fastredis

    monkeypatch.setattr(app.store.fastredis, "CONNECT_TIMEOUT_S", 0.3)

    async def scenario():
        async def silent(reader, writer):
            await asyncio.sleep(30)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        r = FastRedis(f"rediss://127.0.0.1:{port}/0")
        t0 = time.monotonic()
        with pytest.raises(RedisConnectionError, match="cannot connect to Redis"):
            await r.ping()
        elapsed = time.monotonic() - t0
        server.close()
        await r.aclose()
        return elapsed

    assert run(scenario()) < 5
