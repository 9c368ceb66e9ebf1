// The control room's live refresh: polls /admin/overview and swaps the #overview section.
// Server-rendered and escaped by Jinja; parsed by DOMParser (scripts in it never run), and the
// page's CSP allows only this origin's scripts anyway. Pauses while the tab is hidden or a
// form field in the section has focus, so a half-typed reason is not wiped. Each poll names the
// section it has (If-None-Match): when nothing on it changed the server answers 304 and no body.

const live = document.getElementById("live");
const every = Number(live?.dataset.refreshMs) || 3000;
let shown = document.getElementById("overview")?.dataset.etag; // the ETag of the section on the page

function utcTime() {
  return new Date().toISOString().slice(11, 19) + " UTC";
}

function busy() {
  const section = document.getElementById("overview");
  const active = document.activeElement;
  return document.hidden || (section && active && section.contains(active) && active.tagName === "INPUT");
}

async function refresh() {
  if (busy()) return;
  try {
    // the page's own query (the bonus amounts it prices) goes along
    const answer = await fetch("/admin/overview" + window.location.search,
                               { credentials: "same-origin", cache: "no-store",
                                 headers: shown ? { "If-None-Match": shown } : {} });
    if (answer.status === 304) {
      const old = document.getElementById("overview");
      live.textContent = `Live: updated ${old?.dataset.updated}, unchanged at ${utcTime()}.`;
      return;
    }
    if (answer.status === 401) {
      live.textContent = "Signed out: reload the page to sign in again.";
      return;
    }
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    const doc = new DOMParser().parseFromString(await answer.text(), "text/html");
    const fresh = doc.getElementById("overview");
    const old = document.getElementById("overview");
    if (fresh && old) {
      old.replaceWith(document.adoptNode(fresh));
      shown = fresh.dataset.etag;
      live.textContent = `Live: updated ${fresh.dataset.updated}.`;
    }
  } catch (err) {
    live.textContent = `Live refresh failed (${err.message}); retrying.`;
  }
}

setInterval(refresh, every);
