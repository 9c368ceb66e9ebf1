-- Admit one request of a client (IP) against its rate buckets and its cap of held assignments,
-- all checked before any is charged (client hash slot {ip:<IP>}).
-- Each bucket is one number, its theoretical arrival time (GCRA, the generic cell rate algorithm: a
-- token bucket of B tokens refilled at R a minute, stored as the time at which it would be full again
-- plus one interval): tat = the ms at which the next request would be charged into a full bucket's last
-- token. A request at now is admitted when tat - now <= (B - 1) x interval, interval = 60000 / R, and
-- then tat = max(tat, now) + interval; a missing key is a full bucket. The same admissions and waits as
-- the token bucket it replaces (tokens = B - (tat - now) / interval), in one GET and one SET per bucket
-- instead of HMGET, HSET and PEXPIRE, and one argument fewer per bucket.
-- KEYS[1..n] = keys.limit_bucket(IP, name) or keys.limit_worker_bucket(IP, name, W)  string: tat (ms)
-- KEYS[n+1]  = keys.limit_held(IP)  zset: assignment id -> ms it was first admitted (only when ARGV[2] ~= '')
-- ARGV[1] = now (ms since epoch, server clock)
-- ARGV[2] = assignment id to hold, or '' for no held check (eligibility)
-- ARGV[3] = most assignments one client may hold, ARGV[4] = ms to wait when that many are held
-- (held assignments are not forgotten with time here: kernel/limits.py removes those that no
-- longer hold a list, and the set expires HELD_TTL_MS after its last admission)
-- ARGV[4+i] = refill per minute of KEYS[i] (its bucket holds two minutes' worth)
-- returns {0, 0} when admitted (each bucket charged one token, the assignment held), else
--         {wait ms until it would be admitted, i} refused by KEYS[i], nothing charged
local now, member = tonumber(ARGV[1]), ARGV[2]
local HELD_TTL_MS = 7 * 24 * 3600 * 1000
local n = #KEYS
if member ~= '' then n = n - 1 end

local tats = {}
for i = 1, n do
  local interval = 60000 / tonumber(ARGV[4 + i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  -- a full bucket (tat = now) admits 2 x per_minute requests at once: the last while tat - now = burst - 1
  local wait = tat - now - 120000 + interval
  if wait > 0 then
    return {math.ceil(wait), i}
  end
  tats[i] = tat + interval
end

if member ~= '' then
  local held = KEYS[n + 1]
  if not redis.call('ZSCORE', held, member) then
    if redis.call('ZCARD', held) >= tonumber(ARGV[3]) then
      return {math.max(1, tonumber(ARGV[4])), n + 1}
    end
    redis.call('ZADD', held, now, member)
  end
  redis.call('PEXPIRE', held, HELD_TTL_MS)
end

for i = 1, n do
  -- kept until the bucket is full again (what a missing key means), and a second more
  redis.call('SET', KEYS[i], string.format('%.17g', tats[i]), 'PX', math.ceil(tats[i] - now) + 1000)
end
return {0, 0}
