/*
 * The runner's memory across reloads: localStorage entries under "mvt:<link>:<assignment>:".
 */

/** store(key) reads, store(key, value) writes; a full or private-mode storage is ignored. */
export function makeStore(prefix) {
  return function store(key, ...value) {
    try {
      if (value.length === 0) return JSON.parse(localStorage.getItem(prefix + key));
      localStorage.setItem(prefix + key, JSON.stringify(value[0]));
    } catch (e) { /* private mode or full: memory copies still work */ }
    return null;
  };
}

// A tab holding the assignment refreshes its claim this often; a claim this old is abandoned.
export const TAB_HEARTBEAT_MS = 1000;
export const TAB_STALE_MS = 4000;

/**
 * Claims the assignment for tab `tabId` unless another tab's claim is fresh: true when this
 * tab may run. The claim is {id, at} under "tab"; the holder renews it (same call) every
 * TAB_HEARTBEAT_MS and drops it (releaseTab) when the page goes away.
 */
export function claimTab(store, tabId, now) {
  const claim = store("tab");
  if (claim && claim.id !== tabId && now - claim.at < TAB_STALE_MS) return false;
  store("tab", { id: tabId, at: now });
  return true;
}

export function releaseTab(store, tabId) {
  const claim = store("tab");
  if (claim && claim.id === tabId) store("tab", null);
}

/**
 * Trials whose video was started: {trial: {plays, timing}}. markPlayed is called before a
 * video starts, so a reload after that goes to the answer instead of showing it again;
 * keepTiming adds the measurement once playback ends (a reload mid-video leaves it null).
 */
export function markPlayed(store, trial) {
  const played = store("played") || {};
  const rec = played[trial] || { plays: 0, timing: null };
  rec.plays += 1;
  rec.timing = null;
  played[trial] = rec;
  store("played", played);
  return rec.plays;
}

export function keepTiming(store, trial, timing) {
  const played = store("played") || {};
  played[trial] = Object.assign(played[trial] || { plays: 1 }, { timing });
  store("played", played);
}

export function playedTrial(store, trial) {
  const played = store("played") || {};
  return played[trial] || null;
}

/** Takes back a markPlayed whose video never started (play() was refused). */
export function unmarkPlayed(store, trial) {
  const played = store("played") || {};
  if (!played[trial]) return;
  played[trial].plays -= 1;
  if (played[trial].plays <= 0) delete played[trial];
  store("played", played);
}
