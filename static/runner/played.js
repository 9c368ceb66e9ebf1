/*
 * Which MVT trials' videos were started, kept in the session's store (common/store.js) so that a
 * reload goes to the answer instead of showing a video a second time.
 */

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

/** The page was left while trial's video played: a resume answers it as interrupted. */
export function markLeft(store, trial) {
  const played = store("played") || {};
  if (!played[trial]) return;
  played[trial].interrupted = "navigation";
  store("played", played);
}

/** Takes back a markPlayed whose video never started (play() was refused). */
export function unmarkPlayed(store, trial) {
  const played = store("played") || {};
  if (!played[trial]) return;
  played[trial].plays -= 1;
  if (played[trial].plays <= 0) delete played[trial];
  store("played", played);
}
