/*
 * The page's memory across reloads, for every study kind: localStorage entries under
 * "mvt:<link>:<assignment>:" (session.js makes the store), and the claim that lets one tab at a
 * time run an assignment.
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
