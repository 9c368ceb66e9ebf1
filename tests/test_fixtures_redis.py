"""The shared Redis fixture really is a redis-server, with Lua, and each test starts empty."""


def test_redis_is_real_and_runs_lua(redis):
    assert redis.eval("return redis.call('INCR', KEYS[1])", 1, "k") == 1
    assert redis.info("server")["redis_version"].startswith(("6.", "7."))


def test_each_test_starts_with_an_empty_database(redis):
    assert redis.dbsize() == 0
    redis.set("left-over", 1)
