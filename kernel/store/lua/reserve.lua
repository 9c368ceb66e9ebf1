-- Reserve a link in a worker's set of links, within the per-worker cap (worker hash slot).
-- KEYS[1] = keys.worker_links(W)    set of link ids the worker was given
-- KEYS[2] = keys.worker_blocked(W)  string, exists while the worker is blocked
-- ARGV[1] = link id
-- ARGV[2] = cap: MVT_MAX_TASKS_PER_WORKER
-- returns "blocked" | "seen" (link already in the set; nothing changed)
--       | "cap_reached" | "added" (the caller must SREM it again if the link refuses)
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 'blocked'
end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return 'seen'
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 'cap_reached'
end
redis.call('SADD', KEYS[1], ARGV[1])
return 'added'
