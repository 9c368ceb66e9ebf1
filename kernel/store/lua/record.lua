-- Record one trial's response, first write wins (link hash slot).
-- KEYS[1] = keys.link_assignments(L)  hash: assignment id -> JSON record
-- KEYS[2] = keys.link_answers(L)      hash: "<list>:<trial>" -> JSON [label, frames, image_id, video_id,
--                                     fixation_frames, mask_frames, display_px, max_rescale] (MVT; the
--                                     last three absent in stores loaded before 0.4)
-- KEYS[3] = keys.link_responses(L)    hash: "<assignment>:<trial>" -> JSON array [correct, timing_ok,
--                                     presented_frames, image_ms_measured, mask_frames_presented, timing_reason,
--                                     plays, then ARGV[4]] (kernel.responses.decode_response reads it; responses
--                                     stored before 0.2 are a JSON object of every field by name)
-- KEYS[4] = keys.link_activity(L)     zset: unfinished holder -> last activity ms
-- KEYS[5] = keys.link_options(L)      set of the answer options
-- KEYS[6] = keys.link_starts(L)       hash: "<assignment>:<trial>" -> start ids (start.lua)
-- KEYS[7] = keys.link_timing(L)       hash: "n|<display>", "ok|<display>" -> trials with frames (MVT) and a
--                                     timing verdict, those timing_ok (kernel/quality.py; the control room)
-- KEYS[8] = keys.link_blocked(L)      set of the blocked workers given a list of the link (kernel.admin)
-- ARGV[1] = assignment id, ARGV[2] = list index (from the signed token), ARGV[3] = trial
-- ARGV[4] = the client's part, "tab_id,mask,value,...": the tab id, which of kernel.responses.CLIENT_SLOTS
--           are stored and their values (kernel.responses.encode_client)
-- ARGV[5] = the chosen option
-- ARGV[6] = frame_log: ascending, disjoint "a-b" ranges of confirmed frame indices ("" when null)
-- ARGV[7] = now (ms since epoch)
-- ARGV[8] = "hidden" or "blurred" when the page was hidden or blurred during the video, else ""
-- ARGV[9] = "1" when the stimulus was not wholly on screen, else "0"
-- ARGV[10] = the answering tab's id ("" when unknown)
-- ARGV[11] = frame_times: "index:ms,..." one per requestVideoFrameCallback sample, ms since the
--            first sample's expected display time, or the same samples in the compact form the page
--            sends (0.2.0), "first index;" and a character or "(g,d)" per later sample
--            (kernel.responses.frame_times_text); "" when null
-- ARGV[12] = the refresh interval in ms the page measured ("" when unknown: one video frame)
-- ARGV[13] = why the video was interrupted ("navigation"; "" when it was not)
-- ARGV[14] = the page's own count of plays ("" when null): used only when no start was announced
-- ARGV[15] = drawn_device_px: the video's side as drawn in device px ("" when null)
-- ARGV[16] = the display "<browser>|<OS>|<Hz>|<dpr>" (kernel.quality.display_of; "" counts nothing)
-- ARGV[17] = the worker id (from the signed token): a blocked worker's response is refused first
-- ARGV[18] = the task's headphone check outcome "<correct>/<trials>" ("" when none), counted with its first answer
-- Per trial, with lo = fixation_frames, N = frames, m = lo + N (first mask frame), P = 1000/fps:
--   presented_frames = confirmed indices in [lo, m);
--   mask_frames_presented = confirmed indices in [m, m + mask_frames);
--   image_ms_measured = time(m) - time(lo), where time(f) is f's sample time, or interpolated
--     between the samples around f when their gap is (their index difference) x P within half a
--     refresh; null when f has no sample and the gap around it is not nominal (a held frame);
--   plays = the announced starts (KEYS[6]), else ARGV[14];
--   timing_ok = true only when none of these holds, else false with timing_reason the first of:
--     replayed (plays > 1), navigation, hidden, blurred, not_visible, rescaled (drawn_device_px
--     outside [max_rescale / 2, max_rescale] x display_px), unmeasured (no frame_log),
--     image_time (image_ms_measured more than half a refresh from N x P), image_time_unknown
--     (no frame_times, or image_ms_measured null: a frame held where the page had no sample),
--     image_frames (presented_frames ~= N), mask_onset_missing (frame m not confirmed), mask_short (playback stopped before the last
--     mask frame: frame_times end before index m + mask_frames - 2, a last callback may be missed;
--     without frame_times, mask_frames_presented < mask_frames). A dropped mask frame does not
--     shorten the mask, whose last frame stays on screen after the video ends.
--   Answers without frames (rating studies) keep timing_ok null unless a reason before
--   "unmeasured" applies.
-- A repeat of a recorded trial is a duplicate (a retry), unless both carry a tab id and they
-- differ: then it is another tab's late answer, refused with other_tab.
-- returns {outcome, next trial, timing_ok (1, 0, or -1 for unknown)} with outcome
--         "recorded" or "duplicate"; or {"refused", reason, n_trials} with reason one of
--         blocked, unknown_assignment, expired, replaced, bad_trial, bad_response, other_tab
local asg, trial = ARGV[1], ARGV[3]
if redis.call('SISMEMBER', KEYS[8], ARGV[17]) == 1 then
  return {'refused', 'blocked', 0}
end
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
  local tab, ok
  if string.sub(stored, 1, 1) == '[' then
    local values = cjson.decode(stored)
    ok, tab = tostring(values[2]), values[8]
    if type(tab) ~= 'string' then tab = nil end
  else  -- stored before 0.2: a JSON object
    ok = string.match(stored, '"timing_ok":(%a+)')
    tab = string.match(stored, '"tab_id":"([%w_-]+)"')
  end
  if tab and ARGV[10] ~= '' and tab ~= ARGV[10] then
    return {'refused', 'other_tab', 0}
  end
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
local frames = tonumber(answer[2]) or 0
local lo = tonumber(answer[5]) or 0
local mask = tonumber(answer[6])
local first_mask = lo + frames
local function count_in(log, from_idx, to_idx)
  local count = 0
  for a, b in string.gmatch(log, '(%d+)-(%d+)') do
    local from, to = math.max(tonumber(a), from_idx), math.min(tonumber(b), to_idx)
    if to >= from then count = count + to - from + 1 end
  end
  return count
end
local presented, mask_presented, image_ms = 'null', 'null', 'null'
local n_presented, n_mask, onset = nil, nil, false
if ARGV[6] ~= '' then
  n_presented = count_in(ARGV[6], lo, first_mask - 1)
  presented = tostring(n_presented)
  onset = count_in(ARGV[6], first_mask, first_mask) == 1
  if mask then
    n_mask = count_in(ARGV[6], first_mask, first_mask + mask - 1)
    mask_presented = tostring(n_mask)
  end
end
local period = 1000 / 60
local refresh = tonumber(ARGV[12]) or period
local measured, last_sampled = nil, nil
if ARGV[11] ~= '' and frames > 0 then
  local idx, at = {}, {}
  local times = ARGV[11]
  local sep = string.find(times, ';', 1, true)
  if sep then  -- compact (kernel.responses.frame_times_text): one character, or "(g,d)", per later sample
    local first = tonumber(string.sub(times, 1, sep - 1))
    local i, r, p, n = first, 0, sep + 1, #times
    idx[1], at[1] = first, 0
    while p <= n do
      local c, g, d = string.byte(times, p), nil, nil
      if c == 40 then
        local _, e, gs, ds = string.find(times, '^%((%d+),(%-?%d+)%)', p)
        if not e then break end
        g, d, p = tonumber(gs), tonumber(ds), e + 1
      else
        c = c - 97
        g, d, p = math.floor(c / 5) + 1, c % 5 - 2, p + 1
      end
      i, r = i + g, r + d
      idx[#idx + 1] = i
      at[#at + 1] = (math.floor((500 * (i - first) + 1) / 3) + r) / 10
    end
  else
    for i, t in string.gmatch(times, '(%d+):(%-?[%d.]+)') do
      idx[#idx + 1] = tonumber(i)
      at[#at + 1] = tonumber(t)
    end
  end
  local function time_of(f)
    for k = 1, #idx do
      if idx[k] == f then return at[k] end
      if idx[k] > f then
        if k == 1 then return nil end
        local gap = at[k] - at[k - 1]
        if math.abs(gap - (idx[k] - idx[k - 1]) * period) <= refresh / 2 then
          return at[k - 1] + (f - idx[k - 1]) * period
        end
        return nil
      end
    end
    return nil
  end
  last_sampled = idx[#idx]
  local t_on, t_off = time_of(lo), time_of(first_mask)
  if t_on and t_off then
    measured = t_off - t_on
    image_ms = string.format('%.1f', measured)
  end
end
local plays = nil
local starts = redis.call('HGET', KEYS[6], field)
if starts then
  plays = 0
  for _ in string.gmatch(starts, '[^,]+') do plays = plays + 1 end
elseif ARGV[14] ~= '' then
  plays = tonumber(ARGV[14])
end
local drawn, shown_px, max_rescale = tonumber(ARGV[15]), tonumber(answer[7]), tonumber(answer[8]) or 1.5
local reason = nil
if plays and plays > 1 then reason = 'replayed'
elseif ARGV[13] ~= '' then reason = 'navigation'
elseif ARGV[8] ~= '' and (frames > 0 or ARGV[6] ~= '') then reason = ARGV[8]
elseif ARGV[9] == '1' then reason = 'not_visible'
elseif drawn and shown_px and (drawn < shown_px * max_rescale / 2 or drawn > shown_px * max_rescale) then
  reason = 'rescaled'
elseif frames > 0 then
  if ARGV[6] == '' then reason = 'unmeasured'
  elseif measured and math.abs(measured - frames * period) > refresh / 2 then reason = 'image_time'
  elseif not measured then reason = 'image_time_unknown'
  elseif n_presented ~= frames then reason = 'image_frames'
  elseif not onset then reason = 'mask_onset_missing'
  elseif mask and last_sampled and last_sampled < first_mask + mask - 2 then reason = 'mask_short'
  elseif mask and not last_sampled and n_mask < mask then reason = 'mask_short'
  end
end
local timing_ok, flag = 'null', -1
if reason then
  timing_ok, flag = 'false', 0
elseif frames > 0 then
  timing_ok, flag = 'true', 1
end
local function quoted(v)
  if v then return '"' .. v .. '"' end
  return 'null'
end
redis.call('HSET', KEYS[3], field, '[' .. correct .. ',' .. timing_ok .. ',' .. presented .. ',' .. image_ms ..
  ',' .. mask_presented .. ',' .. quoted(reason) .. ',' .. (plays and tostring(plays) or 'null') .. ',' ..
  ARGV[4] .. ']')
if flag ~= -1 and frames > 0 and ARGV[16] ~= '' then  -- a rating answer's verdict is only ever false
  redis.call('HINCRBY', KEYS[7], 'n|' .. ARGV[16], 1)
  if flag == 1 then redis.call('HINCRBY', KEYS[7], 'ok|' .. ARGV[16], 1) end
end
-- The kind's own counts for the control room (kernel.quality.add_kind_counts): an answer without frames
-- whose hidden record knows the answer (a rating trap's or gold trial's) by its distance from it, under
-- its item's class (the id's part before "/"); a task's headphone check outcome with its first answer.
if frames == 0 and type(answer[1]) == 'string' and type(answer[3]) == 'string' then
  local class = string.match(answer[3], '^([%w_-]+)/')
  if class then
    local got, known, distance = tonumber(ARGV[5]), tonumber(answer[1]), 'x'
    if got and known then distance = string.format('%g', math.abs(got - known)) end
    redis.call('HINCRBY', KEYS[7], 'k|' .. class .. '|' .. distance, 1)
  end
end
if (ARGV[18] or '') ~= '' and rec.n_done == 0 then
  redis.call('HINCRBY', KEYS[7], 'k|headphone|' .. ARGV[18], 1)
end
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
