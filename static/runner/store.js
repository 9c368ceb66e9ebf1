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
