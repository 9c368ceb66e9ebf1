-- Mark an assignment's list for replacement: the next new worker takes it over (link hash slot).
-- KEYS[1] = keys.link_assignments(L)  hash: assignment id -> JSON record
-- KEYS[2] = keys.link_slots(L)        hash: list index -> holding assignment id
-- KEYS[3] = keys.link_activity(L)     zset: unfinished holder -> last activity ms
-- KEYS[4] = keys.link_replace(L)      set of list indices marked for replacement
-- ARGV[1] = assignment id
-- returns "marked" (an unfinished holder's list) | "marked_finished" (a completed task's list) | "already"
--         (marked before) | "gone" (its list already went to someone else) | "unknown_assignment"
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 'unknown_assignment'
end
local rec = cjson.decode(raw)
if rec.status == 'to_replace' then
  return 'already'
end
local index = tostring(rec.list)
if rec.status == 'expired' or rec.status == 'replaced' or redis.call('HGET', KEYS[2], index) ~= ARGV[1] then
  return 'gone'
end
rec.status = 'to_replace'
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
local unfinished = redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], index)
if unfinished == 1 then return 'marked' end
return 'marked_finished'
