/*
 * A multi-sample image screen (same-source, MUSHRA) as flip-compare: one viewing area in which
 * the worker switches between the reference and the samples in place (click, digits 1–9, R,
 * F or Space to flip back), so that every image is seen at the same position and size, as
 * crowdMOS's external HIT did. Beside it each sample's rating control, unlocked once the sample
 * has been shown. The rules (keys, view accounting) are flip.js.
 */
import { $ } from "../common/screens.js";
import { watchVisible } from "../common/layout.js";
import { el, ratingControl } from "./dom.js";
import { FlipViews, REFERENCE, flipKey, sampleLetter } from "./flip.js";
import { screenStatus } from "./logic.js";

function viewName(view) {
  return view === REFERENCE ? "Reference" : "Sample " + sampleLetter(view);
}

/** Where a key press went, as flipKey() needs it. */
function targetKind(target) {
  if (target.closest && target.closest("[data-view]")) return "view";
  const tag = target.tagName;
  if (tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && target.type !== "range")) return "text";
  return tag === "BUTTON" ? "button" : "other";
}

/**
 * Runs one flip-compare screen of image `trials` (one source); resolves when Next is pressed
 * with [{trial, response, report}] in screen order, report being FlipViews.report().
 */
export async function flipScreen(trials) {
  const first = trials[0];
  const hasReference = Boolean(first.reference_url);
  const urls = new Map(trials.map((t, k) => [k, t.media_url]));
  if (hasReference) urls.set(REFERENCE, first.reference_url);
  // Every image decoded before it is first asked for, so a flip swaps pixels at once.
  for (const url of urls.values()) { const im = new Image(); im.src = url; im.decode().catch(() => {}); }
  const views = new FlipViews([...urls.keys()]);
  const image = el("img", { id: "flip-image", alt: "" });
  const caption = el("figcaption", { id: "flip-caption", "aria-live": "polite" });
  const back = el("button", { type: "button", class: "flip", "data-view": "back" }, "Flip back (F)");
  const figure = el("figure", { class: "flip-view" });
  figure.append(image, caption, back);
  $("stimuli").append(figure);
  const screen = $("screen-rate");
  screen.classList.add("flip-mode");

  const scale = $("rate-scale");
  const buttons = new Map();
  function viewButton(view, key) {
    const button = el("button", { type: "button", class: "view", "data-view": String(view), "aria-pressed": "false" },
      (view === REFERENCE ? "Reference" : sampleLetter(view)) + " (" + key + ")");
    button.addEventListener("click", () => display(view));
    buttons.set(view, button);
    return button;
  }
  if (hasReference) {
    const row = el("div", { class: "flip-row" });
    row.append(viewButton(REFERENCE, "R"), el("span", { class: "hint" }, "the labelled reference"));
    scale.append(row);
  }
  const rows = trials.map((trial, k) => {
    const state = ratingControl(trial, viewName(k), () => update());
    const row = el("div", { class: "flip-row" });
    row.append(viewButton(k, String(k + 1)), state.input, ...(state.shown ? [state.shown] : []));
    scale.append(row);
    return state;
  });

  let watch = null;
  let turn = 0;
  function display(view) {
    const before = views.current;
    if (!views.show(view)) return;
    if (watch) views.noteVisible(before, watch.stop());
    watch = null;
    const mine = ++turn;
    image.src = urls.get(view);
    image.alt = viewName(view);
    // Watched, and its control unlocked, once decoded: a box still empty while loading would read
    // as not visible, and a picture that never loads was never seen.
    image.decode().then(() => {
      if (mine !== turn) return;
      watch = watchVisible(image);
      if (view !== REFERENCE) rows[view].unlock();
    }).catch(() => {
      if (mine === turn) caption.textContent = "Showing: " + viewName(view) + " — it did not load: show another picture, then this one again.";
    });
    caption.textContent = "Showing: " + viewName(view);
    buttons.forEach((b, v) => b.setAttribute("aria-pressed", String(v === view)));
    back.disabled = views.previous === null;
  }
  back.addEventListener("click", () => { if (views.previous !== null) display(views.previous); });

  const next = $("rate-next");
  const hint = "Click a letter or press its number to see that sample here" +
    (hasReference ? ", R for the reference" : "") + "; F or Space flips back. Rate each sample once you have seen it.";
  $("rate-question").textContent = first.scale === "mushra" ?
    "Rate every sample from 0 to 100 compared with the reference" : "Rate the quality of every sample";
  function update() {
    const status = screenStatus(first.scale, rows.map((r) => (r.touched ? r.input.value : null)), hint);
    next.disabled = !status.ready;
    $("rate-hint").textContent = status.hint;
  }
  function onKey(ev) {
    const action = flipKey(ev.key, { nSamples: trials.length, hasReference, target: targetKind(ev.target),
      modifier: ev.ctrlKey || ev.altKey || ev.metaKey });
    if (!action) return;
    ev.preventDefault();
    if (action.flip) back.click();
    else display(action.show);
  }
  const onVisibility = () => views.setHidden(document.hidden);
  document.addEventListener("keydown", onKey);
  document.addEventListener("visibilitychange", onVisibility);
  views.setHidden(document.hidden);
  display(hasReference ? REFERENCE : 0);
  update();
  await new Promise((resolve) => {
    $("rate-form").onsubmit = (ev) => { ev.preventDefault(); if (!next.disabled) resolve(); };
  });
  document.removeEventListener("keydown", onKey);
  document.removeEventListener("visibilitychange", onVisibility);
  turn += 1;
  if (watch) views.noteVisible(views.current, watch.stop());
  views.stop();
  screen.classList.remove("flip-mode");
  return rows.map((r, k) => ({ trial: r.trial, response: String(r.input.value), report: views.report(k) }));
}
