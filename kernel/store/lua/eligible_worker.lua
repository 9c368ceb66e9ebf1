-- The worker's side of the landing page's check (kernel.assignments.eligibility), read-only (worker hash slot).
-- KEYS[1] = keys.worker_blocked(W)  string, exists while the worker is blocked
-- KEYS[2] = keys.worker_links(W)    set of the links the worker was given
-- ARGV[1] = link id
-- returns {blocked (0 or 1), the link in the worker's set (0 or 1), links in the set}
return {redis.call('EXISTS', KEYS[1]), redis.call('SISMEMBER', KEYS[2], ARGV[1]), redis.call('SCARD', KEYS[2])}
