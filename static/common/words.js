/*
 * The platform's words the page uses, from the page config's `words` (the server sends them per
 * platform) with MTurk's as the fallback: what the task is called ("HIT", "study"), what the
 * participant's id is called ("worker ID", "participant ID") and how the participant gives the
 * task back. A redirecting platform's `finish.return_sentence` (platforms/base.py) is honoured
 * when `words` has none. Pure: no DOM.
 */

/** MTurk's words: what the page said before platforms brought their own. */
export const MTURK_WORDS = Object.freeze({
  task: "HIT",
  participant_id: "worker ID",
  return_sentence: "Please return the HIT.",
});

function text(value) {
  return typeof value === "string" && value.trim() ? value : null;
}

/** {task, participant_id, return_sentence} for page config `cfg`, each falling back to MTurk's. */
export function pageWords(cfg) {
  const given = (cfg && cfg.words) || {};
  const finish = (cfg && cfg.finish) || {};
  return {
    task: text(given.task) || MTURK_WORDS.task,
    participant_id: text(given.participant_id) || MTURK_WORDS.participant_id,
    return_sentence: text(given.return_sentence) || text(finish.return_sentence) || MTURK_WORDS.return_sentence,
  };
}

/** How this platform's participant gives the task back (MTurk: "Please return the HIT."). */
export function returnSentence(cfg) {
  return pageWords(cfg).return_sentence;
}

/**
 * What a participant turned away before anything was allocated reads: `problem` (whole sentences),
 * how to give the task back (`returnSentence`) and that nothing was recorded, each its own
 * sentence (kernel/reasons.py `turned_away` composes the server's pages the same way).
 */
export function turnedAway(problem, returnSentence) {
  return String(problem).trim() + " " + String(returnSentence).trim() + " Nothing has been recorded.";
}

/**
 * Where a redirecting platform takes the participant, as the done screen names it: the host of
 * `url` ("app.prolific.com"), or null when it has none.
 */
export function redirectHost(url) {
  try {
    return new URL(url).hostname || null;
  } catch (e) {
    return null;
  }
}
