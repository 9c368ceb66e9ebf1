"""The hot-path Redis client: same replies as redis-py, script reloading, reconnection, errors."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from kernel.store.fastredis import FastRedis, both, pack


def run(coro):
    return asyncio.run(coro)


def test_pack_is_resp():
    assert pack("SET", "k", 5, b"v") == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$1\r\nv\r\n"


def test_pack_refuses_what_redis_py_would_not_send():
    with pytest.raises(TypeError):
        pack("SET", "k", None)


@pytest.mark.parametrize("first_fails, second_fails", [(False, False), (True, False), (False, True), (True, True)])
def test_both_gives_what_gather_with_exceptions_gives(first_fails, second_fails):
    async def step(value, fails):
        await asyncio.sleep(0)
        if fails:
            raise ValueError(value)
        return value

    async def outcomes(combine):
        got = await combine(step("a", first_fails), step("b", second_fails))
        return [repr(x) for x in got]

    async def scenario():
        gathered = await outcomes(lambda x, y: asyncio.gather(x, y, return_exceptions=True))
        return gathered, await outcomes(both)

    gathered, ours = run(scenario())
    assert ours == gathered


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


def test_a_pipeline_runs_each_script_once_loading_those_the_server_lacks(redis, redis_url):
    async def scenario():
        r = FastRedis(redis_url)
        incr = r.register_script("return redis.call('INCR', KEYS[1])")
        add = r.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        redis.script_flush()
        redis.script_load(incr.source)  # one known to the server, one not (NOSCRIPT: loaded, run alone)
        pipe = r.pipeline()
        await incr(keys=["n"], client=pipe)
        await add(keys=["m"], args=[10], client=pipe)
        got = await pipe.hget("h", "f").execute()
        await r.aclose()
        return got
    assert run(scenario()) == [1, 10, None]
    assert (redis.get("n"), redis.get("m")) == ("1", "10")  # each ran once


def test_scripts_together_answer_in_order_and_load_unknown_scripts(redis, redis_url):
    """Scripts and plain commands leave in one write; each script Redis did not know is loaded and run
    once; a failing call is its own exception; a fired command is written without being awaited."""
    from kernel.store.fastredis import scripts_together

    async def scenario():
        r = FastRedis(redis_url)
        incr = r.register_script("return redis.call('INCR', KEYS[1])")
        add = r.register_script("return redis.call('SADD', KEYS[1], 'm')")
        redis.set("str", "x")
        redis.script_flush()
        got = await scripts_together(r, (incr, ["n"], []), (None, ("GET", "str"), ()), (add, ["str"], []),
                                     (incr, ["n"], []))
        r.fire("SET", "fired", "1")
        fired = await r.execute_command("GET", "fired")  # the same connection: after the fired SET
        await r.aclose()
        return got, fired
    got, fired = run(scenario())
    assert (got[0], got[1], got[3], fired) == (1, "x", 2, "1")
    assert isinstance(got[2], ResponseError) and "WRONGTYPE" in str(got[2])


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
            await asyncio.wait_for(r._send(pack("ECHO", "stale"), old), 10)
        assert await asyncio.wait_for(r.execute_command("ECHO", "fresh"), 10) == "fresh"
        await r.aclose()
    run(scenario())


def test_a_redis_that_never_answers_the_handshake_fails_fast(monkeypatch):
    import time

    import kernel.store.fastredis

    monkeypatch.setattr(kernel.store.fastredis, "CONNECT_TIMEOUT_S", 0.3)

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


@pytest.mark.parametrize("what", ["pipeline", "password and db"])
def test_commands_failed_by_a_stall_are_all_read(caplog, what):
    """A Redis that stops answering fails every command waiting on the connection at once; the client reads
    each failure (asyncio logs "Future exception was never retrieved" for one it does not): the rest of a
    pipeline after its first, the SELECT after a connection's AUTH."""
    import gc
    import logging

    from redis.exceptions import TimeoutError as RedisTimeoutError

    caplog.set_level(logging.ERROR, logger="asyncio")

    async def scenario():
        async def silent(reader, writer):
            await asyncio.sleep(30)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        if what == "pipeline":
            r = FastRedis(f"redis://127.0.0.1:{port}/0", timeout_s=0.3)
            call = r.pipeline().hget("h", "f").sadd("s", "m").llen("l").execute()
        else:
            r = FastRedis(f"redis://:secret@127.0.0.1:{port}/3", timeout_s=0.3)
            call = r.ping()
        with pytest.raises(RedisTimeoutError, match="sent nothing for 0.3 s"):
            await call
        server.close()
        await r.aclose()

    run(scenario())
    gc.collect()  # an unread exception is logged when its future is collected
    assert [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()] == []


# --- Redis Cluster -------------------------------------------------------------------------------

def test_connect_detects_a_cluster_from_any_node_even_a_replica(local_cluster, redis_url):
    from kernel.store.fastredis import FastRedisCluster, connect

    async def kinds():
        found = []
        for url in (redis_url, local_cluster.url, f"redis://127.0.0.1:{local_cluster.ports[-1]}"):
            client = await connect(url)
            found.append((type(client).__name__, await client.ping()))
            await client.aclose()
        return found
    assert run(kinds()) == [("FastRedis", True), ("FastRedisCluster", True), ("FastRedisCluster", True)]
    with pytest.raises(ValueError, match="names database 3; a Redis Cluster has only database 0"):
        run(connect(local_cluster.url + "/3"))
    assert FastRedisCluster.__doc__


def test_a_wrong_slot_map_is_repaired_by_moved_replies(local_cluster):
    from kernel.store.fastredis import connect

    async def scenario():
        r = await connect(local_cluster.url)
        wrong = r.slots[0]
        r.slots = [wrong] * 16384  # as if every slot had moved away from where the client thinks
        keys_ = [f"{{t{i}}}:k" for i in range(30)]
        await asyncio.gather(*(r.execute_command("SET", k, i) for i, k in enumerate(keys_)))
        p = r.pipeline()
        for k in keys_:
            p.hget("{t0}:h", "f").exists(k)
        replies = await p.execute()
        for _ in range(200):  # the background refresh a MOVED triggers (a round trip to a node)
            if r.refreshes >= 2 and r._refreshing is None:
                break
            await asyncio.sleep(0.05)
        masters = {n.port for n in r.slots}
        await r.aclose()
        return replies, masters, r.refreshes
    replies, masters, refreshes = run(scenario())
    assert replies == [None, 1] * 30
    assert len(masters) == 3 and refreshes >= 2, (masters, refreshes)
    assert local_cluster.client(local_cluster.master_of("{t7}:k")).get("{t7}:k") == "7"


@pytest.mark.parametrize("how", ["alone", "pipeline"])
def test_scripts_are_loaded_on_each_node_that_lacks_them(local_cluster, how):
    from kernel.store.fastredis import connect

    for port in local_cluster.ports:
        local_cluster.client(port).script_flush()

    async def scenario():
        r = await connect(local_cluster.url)
        script = r.register_script("return redis.call('INCR', KEYS[1])")
        if how == "alone":
            got = await asyncio.gather(*(script(keys=[f"{{s{i}}}:n"]) for i in range(20)))
        else:  # one pipeline over the three masters
            pipe = r.pipeline()
            for i in range(20):
                await script(keys=[f"{{p{i}}}:n"], client=pipe)
            got = await pipe.execute()
        await r.aclose()
        return got
    assert run(scenario()) == [1] * 20


def test_ask_during_a_slot_migration_is_followed(local_cluster):
    """A slot half-way between two masters: keys already moved are answered by the target after ASKING."""
    from kernel.store.connect import client_from_url
    from kernel.store.fastredis import connect

    key = "{ask-test}:k"
    source = local_cluster.master_of(key)
    target = next(p for p in local_cluster.ports[:3] if p != source)
    src, dst = local_cluster.client(source), local_cluster.client(target)
    slot = src.execute_command("CLUSTER", "KEYSLOT", key)
    src_id, dst_id = src.execute_command("CLUSTER", "MYID"), dst.execute_command("CLUSTER", "MYID")
    client_from_url(local_cluster.url).set(key, "moved-value")
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    try:
        src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", key)

        async def scenario():
            r = await connect(local_cluster.url)
            got = await r.execute_command("GET", key), await r.pipeline().hget(key + "x", "f").execute()
            # a script the target lacks: loaded there, then run again after ASKING
            got += (await r.register_script("return redis.call('GET', KEYS[1])")(keys=[key]),)
            await r.aclose()
            return got
        for port in local_cluster.ports:
            local_cluster.client(port).script_flush()
        assert run(scenario()) == ("moved-value", [None], "moved-value")
    finally:
        for port in local_cluster.ports[:3]:  # finish the migration everywhere: the target owns the slot
            local_cluster.client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    assert local_cluster.master_of(key) == target


def test_nothing_sent_together_answers_nothing_and_the_next_command_its_own_reply(redis, redis_url):
    """A request with no limits to charge sends no script beside its own (`scripts_together` of none): an
    empty batch must not wait at the head of the queue for replies, taking the next command's (the Prolific
    page's placement stalled for MVT_REDIS_TIMEOUT_S, then failed)."""
    from kernel.store.fastredis import scripts_together

    async def scenario():
        r = FastRedis(redis_url, timeout_s=60)  # a stall is not ended for us by the client's own timeout
        await r.execute_command("PING")
        got = await asyncio.wait_for(scripts_together(r), 10)
        redis.set("after", "1")
        after = await asyncio.wait_for(r.execute_command("GET", "after"), 10)
        await r.aclose()
        return got, after
    assert run(scenario()) == ([], "1")
