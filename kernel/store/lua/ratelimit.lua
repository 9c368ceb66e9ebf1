-- Admit one request of a client (IP) against its token buckets and its cap of held assignments,
-- all checked before any is charged (client hash slot {ip:<IP>}).
-- KEYS[1..n] = keys.limit_bucket(IP, name) or keys.limit_worker_bucket(IP, name, W)
--              hash: tokens (float), at (ms of the last charge)
-- KEYS[n+1]  = keys.limit_held(IP)  zset: assignment id -> ms it was first admitted (only when ARGV[2] ~= '')
-- ARGV[1] = now (ms since epoch, server clock)
-- ARGV[2] = assignment id to hold, or '' for no held check (eligibility)
-- ARGV[3] = most assignments one client may hold, ARGV[4] = ms to wait when that many are held
-- (held assignments are not forgotten with time here: kernel/limits.py removes those that no
-- longer hold a list, and the set expires HELD_TTL_MS after its last admission)
-- ARGV[3+2i], ARGV[4+2i] = refill per minute and burst (bucket size) of KEYS[i]
-- returns {0, 0} when admitted (each bucket charged one token, the assignment held), else
--         {wait ms until it would be admitted, i} refused by KEYS[i], nothing charged
local now, member = tonumber(ARGV[1]), ARGV[2]
local HELD_TTL_MS = 7 * 24 * 3600 * 1000
local n = #KEYS
if member ~= '' then n = n - 1 end

local levels = {}
for i = 1, n do
  -- per minute, multiplied before dividing: whole-ms refills then come out exact
  local per_minute, burst = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * per_minute / 60000)
  if tokens < 1 then
    return {math.ceil((1 - tokens) * 60000 / per_minute), i}
  end
  levels[i] = tokens
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
  local per_minute, burst = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.17g', levels[i] - 1), 'at', now)
  -- a bucket left alone this long is full again, which is what a missing key means
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst * 60000 / per_minute) + 1000)
end
return {0, 0}
