-- May an assignment fetch a video? The check behind a per-assignment video URL (kernel/videourls.py).
-- KEYS: link_assignments, link_lists (one link's slot)
-- ARGV: assignment_id, video_id (16 lowercase hex characters, checked by the route)
-- Returns 'ok'; 'replaced' or 'expired' when the assignment lost its list; 'unknown' without a
-- record; 'foreign' when the video is not in the assignment's list.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 'unknown'
end
local rec = cjson.decode(raw)
if rec.status == 'replaced' or rec.status == 'expired' then
  return rec.status
end
local ids = redis.call('HGET', KEYS[2], tostring(rec.list))
-- Items are video ids (MVT) or '~'-joined fields naming '<id>.<ext>' (ratings): match the whole hex id.
if ids and string.find(ids, '%f[%x]' .. ARGV[2] .. '%f[^%x]') then
  return 'ok'
end
return 'foreign'
