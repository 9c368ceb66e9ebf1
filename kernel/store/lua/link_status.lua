-- The control room's view of one link in one call (link hash slot; reads only).
-- KEYS[1] = keys.link_meta(L)         hash: experiment_id, kind, n_lists, paused
-- KEYS[2] = keys.link_free(L)         list of list indices never handed out
-- KEYS[3] = keys.link_slots(L)        hash: list index -> holder
-- KEYS[4] = keys.link_activity(L)     zset: unfinished holder -> last activity ms
-- KEYS[5] = keys.link_replace(L)      set of lists marked for replacement
-- KEYS[6] = keys.link_assignments(L)  hash: assignment id -> JSON record
-- KEYS[7] = keys.link_timing(L)       hash: "n|<display>", "ok|<display>" -> counts (record.lua)
-- ARGV[1] = idle before (ms): unfinished holders last active before it are counted as idle (expired)
-- ARGV[2] = records wanted: every record of a link holding at most this many, else this many at random
-- returns {meta as HMGET gives it, {free, handed out, unfinished, idle, to replace, records},
--          records as a flat list of id, JSON, ..., the timing hash as a flat list of field, count, ...}
local n_records = redis.call('HLEN', KEYS[6])
local records
if n_records <= tonumber(ARGV[2]) then
  records = redis.call('HGETALL', KEYS[6])
else
  records = redis.call('HRANDFIELD', KEYS[6], tonumber(ARGV[2]), 'WITHVALUES')
end
return {
  redis.call('HMGET', KEYS[1], 'experiment_id', 'kind', 'n_lists', 'paused'),
  {redis.call('LLEN', KEYS[2]), redis.call('HLEN', KEYS[3]), redis.call('ZCARD', KEYS[4]),
   redis.call('ZCOUNT', KEYS[4], '-inf', '(' .. ARGV[1]), redis.call('SCARD', KEYS[5]), n_records},
  records,
  redis.call('HGETALL', KEYS[7])
}
