-- Give an assignment a list of a link, atomically (link hash slot). O(log n) in the link's history.
-- KEYS[1] = keys.link_meta(L)         hash: n_trials, options, kind, paused
-- KEYS[2] = keys.link_lists(L)        hash: list index -> JSON video ids
-- KEYS[3] = keys.link_free(L)         list of never-used list indices
-- KEYS[4] = keys.link_slots(L)        hash: list index -> holding assignment id
-- KEYS[5] = keys.link_assignments(L)  hash: assignment id -> JSON record
-- KEYS[6] = keys.link_workers(L)      hash: worker id -> assignment id
-- KEYS[7] = keys.link_activity(L)     zset: unfinished holder -> last activity ms
-- KEYS[8] = keys.link_replace(L)      set of list indices marked for replacement
-- KEYS[9] = keys.link_unstarted(L)    zset: holder that had not answered a trial -> ms it started
-- KEYS[10] = keys.link_served(L)      hash: assignment id -> its kept answer (dropped with a list taken over)
-- ARGV[1] = worker id, ARGV[2] = assignment id, ARGV[3] = hit id
-- ARGV[4] = now (ms since epoch, server clock), ARGV[5] = allotted time (ms)
-- ARGV[6] = first-trial time (ms): a holder without an answer this long after its start gives its list up
-- ARGV[7] = the meta's images as the caller passed them to reserve.lua ("" for none): when they are no
--           longer the link's, the script changes nothing and returns {"stale_images"} (not a refusal: the
--           caller reads them again and retries)
-- returns {outcome, list index, list JSON, next trial, completed 0/1, code or "", n_trials, options JSON,
--          study kind or "", status}
--         with outcome "new" or "resume"; "new" adds, for the control room's tally (kernel/tally.py),
--         {experiment id, where the list came from ("free", "replace" or "expire"), the assignment id that
--         held it before or ""}; or {"refused", reason} with reason one of
--         unknown_link, wrong_worker, expired, replaced, seen_link, paused, link_full
local worker, asg, now = ARGV[1], ARGV[2], tonumber(ARGV[4])
local meta = redis.call('HMGET', KEYS[1], 'n_trials', 'options', 'kind', 'paused', 'images')
if not meta[1] then
  return {'refused', 'unknown_link'}
end
if (meta[5] or '') ~= (ARGV[7] or '') then
  return {'stale_images'}
end

local function answer(outcome, rec)
  local list = redis.call('HGET', KEYS[2], tostring(rec.list))
  local done = 0
  if rec.status == 'complete' or rec.completed_ms then done = 1 end
  return {outcome, rec.list, list, rec.next, done, rec.code or '', tonumber(meta[1]), meta[2], meta[3] or '',
          rec.status}
end

local raw = redis.call('HGET', KEYS[5], asg)
if raw then
  local rec = cjson.decode(raw)
  if rec.worker ~= worker then
    return {'refused', 'wrong_worker'}
  end
  if rec.status == 'expired' or rec.status == 'replaced' then
    return {'refused', rec.status}
  end
  if rec.status == 'in_progress' then
    redis.call('ZADD', KEYS[7], 'XX', now, asg)
  end
  return answer('resume', rec)
end

if redis.call('HEXISTS', KEYS[6], worker) == 1 then
  return {'refused', 'seen_link'}
end
-- Paused (kernel/control.py): returning assignments resumed above; nothing new is handed out.
if meta[4] == '1' then
  return {'refused', 'paused'}
end

local function take_over(old_asg, new_status)
  local old = cjson.decode(redis.call('HGET', KEYS[5], old_asg))
  old.status = new_status
  redis.call('HSET', KEYS[5], old_asg, cjson.encode(old))
  redis.call('HDEL', KEYS[10], old_asg)
end

local function expire(old_asg)
  redis.call('ZREM', KEYS[7], old_asg)
  redis.call('ZREM', KEYS[9], old_asg)
  local old = cjson.decode(redis.call('HGET', KEYS[5], old_asg))
  old.status = 'expired'
  redis.call('HSET', KEYS[5], old_asg, cjson.encode(old))
  redis.call('HDEL', KEYS[10], old_asg)
  return tostring(old.list)
end

-- the longest-waiting holder that has not answered a first trial within ARGV[6] ms, if any; entries
-- of holders that answered since (or finished, or lost their list) are dropped on the way (bounded)
local function unstarted_too_long()
  for _ = 1, 20 do
    local first = redis.call('ZRANGE', KEYS[9], 0, 0, 'WITHSCORES')
    if not first[1] or tonumber(first[2]) > now - tonumber(ARGV[6]) then
      return nil
    end
    local raw_old = redis.call('HGET', KEYS[5], first[1])
    local old = raw_old and cjson.decode(raw_old)
    if old and old.status == 'in_progress' and old.n_done == 0 and not old.completed_ms then
      return first[1]
    end
    redis.call('ZREM', KEYS[9], first[1])
  end
  return nil
end

local index = redis.call('LPOP', KEYS[3])
local source, before = 'free', ''  -- for the tally
if not index then
  index = redis.call('SPOP', KEYS[8])
  if index then
    local old_asg = redis.call('HGET', KEYS[4], index)
    redis.call('ZREM', KEYS[9], old_asg)
    take_over(old_asg, 'replaced')
    source, before = 'replace', old_asg
  else
    local oldest = redis.call('ZRANGE', KEYS[7], 0, 0, 'WITHSCORES')
    if oldest[1] and tonumber(oldest[2]) <= now - tonumber(ARGV[5]) then
      index = expire(oldest[1])
      source, before = 'expire', oldest[1]
    else
      local unstarted = unstarted_too_long()
      if unstarted then
        index = expire(unstarted)
        source, before = 'expire', unstarted
      else
        return {'refused', 'link_full'}
      end
    end
  end
end

local rec = {worker = worker, hit = ARGV[3], list = tonumber(index), status = 'in_progress',
             started_ms = now, next = 0, n_done = 0}
redis.call('HSET', KEYS[4], index, asg)
redis.call('HSET', KEYS[5], asg, cjson.encode(rec))
redis.call('HSET', KEYS[6], worker, asg)
redis.call('ZADD', KEYS[7], now, asg)
redis.call('ZADD', KEYS[9], now, asg)
local out = answer('new', rec)
-- The control room's tally (kernel/tally.py): the caller counts the change in the experiment's counts.
out[11], out[12], out[13] = redis.call('HGET', KEYS[1], 'experiment_id') or '', source, before
return out
