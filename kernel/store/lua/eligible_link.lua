-- The link's side of the landing page's check (kernel.assignments.eligibility), read-only (link hash slot):
-- whether allocate.lua would give the worker a list of the link now, in its order of refusals.
-- KEYS[1] = keys.link_meta(L)         hash: n_lists (absent: no such link), images, paused
-- KEYS[2] = keys.link_workers(L)      hash: worker id -> the assignment that holds (held) its list
-- KEYS[3] = keys.link_assignments(L)  hash: assignment id -> JSON record (its status)
-- KEYS[4] = keys.link_free(L)         list of never-used lists
-- KEYS[5] = keys.link_replace(L)      set of lists marked for replacement
-- KEYS[6] = keys.link_activity(L)     zset: unfinished holder -> last activity ms
-- KEYS[7] = keys.link_unstarted(L)    zset: holder without an answer yet -> ms it started
-- ARGV[1] = worker id, ARGV[2] = the asking assignment id ('' for none), ARGV[3] = now (ms),
-- ARGV[4] = allotted ms (MVT_ALLOTTED_MINUTES), ARGV[5] = first-trial ms (MVT_FIRST_TRIAL_MINUTES)
-- returns {state, images} with images the meta's field as stored ('' for none) and state one of
--   unknown_link; resume (the asking assignment holds the worker's list of the link); seen_link (the
--   worker holds or held a list of it under another assignment); paused; open (a list is free, marked
--   for replacement, or held by someone idle past the allotted or first-trial time); link_full
local meta = redis.call('HMGET', KEYS[1], 'n_lists', 'images', 'paused')
if not meta[1] then
  return {'unknown_link', ''}
end
local images = meta[2] or ''
local held = redis.call('HGET', KEYS[2], ARGV[1])
if held then
  if held == ARGV[2] then
    local raw = redis.call('HGET', KEYS[3], held)
    local status = raw and cjson.decode(raw).status
    if status == 'in_progress' or status == 'complete' or status == 'to_replace' then
      return {'resume', images}
    end
  end
  return {'seen_link', images}
end
if meta[3] == '1' then
  return {'paused', images}
end
if redis.call('LLEN', KEYS[4]) > 0 or redis.call('SCARD', KEYS[5]) > 0 then
  return {'open', images}
end
local now = tonumber(ARGV[3])
local oldest = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
if oldest[2] and tonumber(oldest[2]) <= now - tonumber(ARGV[4]) then
  return {'open', images}
end
local unstarted = redis.call('ZRANGE', KEYS[7], 0, 0, 'WITHSCORES')
if unstarted[2] and tonumber(unstarted[2]) <= now - tonumber(ARGV[5]) then
  return {'open', images}  -- probably: allocate checks that it is still unanswered
end
return {'link_full', images}
