-- Mark an assignment complete once every trial is recorded (link hash slot). Idempotent.
-- KEYS[1] = keys.link_meta(L)         hash: n_trials
-- KEYS[2] = keys.link_assignments(L)  hash: assignment id -> JSON record
-- KEYS[3] = keys.link_activity(L)     zset: unfinished holder -> last activity ms
-- ARGV[1] = assignment id, ARGV[2] = list index (from the signed token)
-- ARGV[3] = now (ms since epoch), ARGV[4] = completion code (server-derived)
-- ARGV[5] = the worker's debrief comment ("" for none), kept as the record's comment
-- returns {"complete", code, n_trials, completed_ms}, and when completed by this call, for the control
--         room's tally (kernel/tally.py), {experiment id, 1 if it was an unfinished holder else 0, started_ms};
--         or {"refused", reason, n_done, n_trials}
--         with reason one of unknown_assignment, expired, replaced, incomplete
local raw = redis.call('HGET', KEYS[2], ARGV[1])
local n_trials = tonumber(redis.call('HGET', KEYS[1], 'n_trials'))
if not raw or not n_trials then
  return {'refused', 'unknown_assignment', 0, 0}
end
local rec = cjson.decode(raw)
if rec.status == 'expired' or rec.status == 'replaced' or tostring(rec.list) ~= ARGV[2] then
  return {'refused', rec.status, rec.n_done, n_trials}
end
if rec.completed_ms then
  return {'complete', rec.code, n_trials, rec.completed_ms}
end
if rec.next < n_trials then
  return {'refused', 'incomplete', rec.n_done, n_trials}
end
rec.completed_ms = tonumber(ARGV[3])
rec.code = ARGV[4]
if ARGV[5] ~= '' then rec.comment = ARGV[5] end
if rec.status == 'in_progress' then
  rec.status = 'complete'
end
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(rec))
local unfinished = redis.call('ZREM', KEYS[3], ARGV[1])
return {'complete', rec.code, n_trials, rec.completed_ms,
        redis.call('HGET', KEYS[1], 'experiment_id') or '', unfinished, rec.started_ms or rec.completed_ms}
