-- Reserve a link in a worker's set of links, within the per-worker cap (worker hash slot).
-- KEYS[1] = keys.worker_links(W)    set of link ids the worker was given
-- KEYS[2] = keys.worker_blocked(W)  string, exists while the worker is blocked
-- KEYS[3] = keys.worker_images(W)   set of "<experiment>/<image id>" the worker's links showed
-- ARGV[1] = link id
-- ARGV[2] = cap: MVT_MAX_TASKS_PER_WORKER
-- ARGV[3..] = the link's images, "<experiment>/<image id>" (its meta's images; none for a fixed design)
-- returns "blocked" | "seen" (link already in the set; nothing changed)
--       | "cap_reached" | "seen_image" (the worker was given another link showing one of the images)
--       | "added" (link and images added; the caller must SREM them again if the link refuses)
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 'blocked'
end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return 'seen'
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 'cap_reached'
end
for i = 3, #ARGV do
  if redis.call('SISMEMBER', KEYS[3], ARGV[i]) == 1 then
    return 'seen_image'
  end
end
redis.call('SADD', KEYS[1], ARGV[1])
if #ARGV >= 3 then
  redis.call('SADD', KEYS[3], unpack(ARGV, 3))
end
return 'added'
