-- Count one announced start of a trial's video, idempotent per start id (link hash slot).
-- KEYS[1] = keys.link_assignments(L)  hash: assignment id -> JSON record
-- KEYS[2] = keys.link_answers(L)      hash: "<list>:<trial>" -> JSON answer (only its presence is read)
-- KEYS[3] = keys.link_starts(L)       hash: "<assignment>:<trial>" -> comma-separated start ids
-- ARGV[1] = assignment id, ARGV[2] = list index (from the signed token), ARGV[3] = trial
-- ARGV[4] = the start id the browser drew for this viewing ([A-Za-z0-9_-], a retry repeats it)
-- A start id already counted is not counted again, so a retried request is harmless; every
-- other start of the same trial (another tab, profile, device, or a reload) is a new viewing.
-- returns {"started", plays} with plays the number of distinct starts so far (1 = first viewing);
--         or {"refused", reason} with reason one of unknown_assignment, expired, replaced, bad_trial
local asg, trial = ARGV[1], ARGV[3]
local raw = redis.call('HGET', KEYS[1], asg)
if not raw then
  return {'refused', 'unknown_assignment'}
end
local rec = cjson.decode(raw)
if rec.status == 'expired' or rec.status == 'replaced' or tostring(rec.list) ~= ARGV[2] then
  return {'refused', rec.status}
end
if redis.call('HEXISTS', KEYS[2], ARGV[2] .. ':' .. trial) == 0 then
  return {'refused', 'bad_trial'}
end
local field = asg .. ':' .. trial
local ids = redis.call('HGET', KEYS[3], field) or ''
local n = 0
for id in string.gmatch(ids, '[^,]+') do
  n = n + 1
  if id == ARGV[4] then
    return {'started', n}
  end
end
-- Keep at most 50 ids: beyond that the count alone matters.
if n < 50 then
  if ids == '' then ids = ARGV[4] else ids = ids .. ',' .. ARGV[4] end
else
  ids = ids .. ',x'
end
redis.call('HSET', KEYS[3], field, ids)
return {'started', n + 1}
