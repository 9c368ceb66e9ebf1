// A stand-in for the runner's localStorage-backed store (static/common/store.js makeStore): the same
// call shape, store(key) reads and store(key, value) writes, kept in memory. Not a test file.

/** `{ store, data }`: the store function, and `data(key)` to read what was written. */
export function memoryStore(initial = {}) {
  const data = new Map(Object.entries(initial).map(([k, v]) => [k, JSON.stringify(v)]));
  const store = (key, ...value) => {
    if (value.length === 0) return data.has(key) ? JSON.parse(data.get(key)) : null;
    data.set(key, JSON.stringify(value[0]));
    return null;
  };
  return { store, data: (key) => JSON.parse(data.get(key) ?? "null") };
}
