-- Record one trial's response, first write wins (link hash slot).
-- KEYS[1] = keys.link_assignments(L)  hash: assignment id -> JSON record
-- KEYS[2] = keys.link_answers(L)      hash: "<list>:<trial>" -> JSON [label, frames, image_id, video_id,
--                                     fixation_frames]
-- KEYS[3] = keys.link_responses(L)    hash: "<assignment>:<trial>" -> JSON response
-- KEYS[4] = keys.link_activity(L)     zset: unfinished holder -> last activity ms
-- KEYS[5] = keys.link_options(L)      set of the answer options
-- ARGV[1] = assignment id, ARGV[2] = list index (from the signed token), ARGV[3] = trial
-- ARGV[4] = the response JSON object without correct/timing_ok/presented_frames (kernel/responses.py)
-- ARGV[5] = the chosen option
-- ARGV[6] = frame_log: ascending, disjoint "a-b" ranges of confirmed frame indices ("" when null)
-- ARGV[7] = now (ms since epoch)
-- ARGV[8] = "1" when the page was hidden or blurred during the video, else "0"
-- ARGV[9] = "1" when the stimulus was not wholly on screen or was played more than once, else "0"
-- ARGV[10] = the answering tab's id ("" when unknown)
-- presented_frames = confirmed indices in [fixation_frames, fixation_frames + frames);
-- timing_ok = presented_frames == frames and ARGV[8] == "0" (null without a frame_log), and
-- false whenever ARGV[9] == "1"
-- A repeat of a recorded trial is a duplicate (a retry), unless both carry a tab id and they
-- differ: then it is another tab's late answer, refused with other_tab.
-- returns {outcome, next trial, timing_ok (1, 0, or -1 for unknown)} with outcome
--         "recorded" or "duplicate"; or {"refused", reason, n_trials} with reason one of
--         unknown_assignment, expired, replaced, bad_trial, bad_response, other_tab
local asg, trial = ARGV[1], ARGV[3]
local raw = redis.call('HGET', KEYS[1], asg)
if not raw then
  return {'refused', 'unknown_assignment', 0}
end
local rec = cjson.decode(raw)
if rec.status == 'expired' or rec.status == 'replaced' or tostring(rec.list) ~= ARGV[2] then
  return {'refused', rec.status, 0}
end
local answer_raw = redis.call('HGET', KEYS[2], ARGV[2] .. ':' .. trial)
if not answer_raw then
  return {'refused', 'bad_trial', 0}
end
local field = asg .. ':' .. trial
local stored = redis.call('HGET', KEYS[3], field)
if stored then
  local tab = string.match(stored, '"tab_id":"([%w_-]+)"')
  if tab and ARGV[10] ~= '' and tab ~= ARGV[10] then
    return {'refused', 'other_tab', 0}
  end
  local ok = string.match(stored, '"timing_ok":(%a+)')
  local flag = -1
  if ok == 'true' then flag = 1 elseif ok == 'false' then flag = 0 end
  return {'duplicate', rec.next, flag}
end
if redis.call('SISMEMBER', KEYS[5], ARGV[5]) == 0 then
  return {'refused', 'bad_response', 0}
end
local answer = cjson.decode(answer_raw)
local correct = 'false'
if ARGV[5] == answer[1] then correct = 'true' end
local timing_ok, flag, presented = 'null', -1, 'null'
if ARGV[6] ~= '' then
  local frames = tonumber(answer[2])
  local lo = tonumber(answer[5])
  local hi = lo + frames - 1
  local count = 0
  for a, b in string.gmatch(ARGV[6], '(%d+)-(%d+)') do
    local from, to = math.max(tonumber(a), lo), math.min(tonumber(b), hi)
    if to >= from then count = count + to - from + 1 end
  end
  presented = tostring(count)
  if count == frames and ARGV[8] == '0' then timing_ok, flag = 'true', 1 else timing_ok, flag = 'false', 0 end
end
if ARGV[9] == '1' then timing_ok, flag = 'false', 0 end
redis.call('HSET', KEYS[3], field, '{"correct":' .. correct .. ',"timing_ok":' .. timing_ok ..
  ',"presented_frames":' .. presented .. ',' .. string.sub(ARGV[4], 2))
rec.n_done = rec.n_done + 1
while redis.call('HEXISTS', KEYS[3], asg .. ':' .. rec.next) == 1 do
  rec.next = rec.next + 1
end
rec.active_ms = tonumber(ARGV[7])
redis.call('HSET', KEYS[1], asg, cjson.encode(rec))
if rec.status == 'in_progress' then
  redis.call('ZADD', KEYS[4], 'XX', ARGV[7], asg)
end
return {'recorded', rec.next, flag}
