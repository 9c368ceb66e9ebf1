/*
 * mvt-server trial runner: consent → instructions → display check → trials → completion.
 *
 * Contract with the server: docs/contracts.md ("Browser ↔ server"). The page never learns a
 * trial's duration; it reports which video frames it saw presented (frame_log) and the server
 * counts those in the image segment.
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("mvt-config").textContent);
  var FPS = 60;
  var FRAME_LOG_MAX = 4000;
  var STORE_PREFIX = "mvt:" + cfg.link + ":" + cfg.assignment_id + ":";
  var REASONS = {
    blocked: "Your worker ID cannot take part in this study.",
    seen_link: "You have already done this task (or one showing the same pictures).",
    cap_reached: "You have reached the maximum number of tasks in this study.",
    link_full: "This task has already been done by enough workers.",
    unknown_link: "This task link is not known to the server.",
    expired: "The time allowed for this task has run out.",
    replaced: "This assignment was withdrawn by the requester.",
    wrong_worker: "This assignment belongs to another worker ID.",
    bad_token: "This page's task session is not valid any more; please reload the page.",
    preview: "This is MTurk's preview: accept the HIT to start the task."
  };

  // ---------------------------------------------------------------- small helpers
  function $(id) { return document.getElementById(id); }

  function store(key, value) {
    try {
      if (arguments.length === 1) return JSON.parse(localStorage.getItem(STORE_PREFIX + key));
      localStorage.setItem(STORE_PREFIX + key, JSON.stringify(value));
    } catch (e) { /* private mode or full: memory copies still work */ }
    return null;
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  var stopped = false;

  function show(name) {
    if (stopped && name !== "stop") return;
    var screens = document.querySelectorAll("[data-screen]");
    for (var i = 0; i < screens.length; i++) screens[i].hidden = screens[i].id !== "screen-" + name;
    var heading = $("screen-" + name).querySelector("h1[tabindex], legend[tabindex]");
    if (heading) heading.focus({ preventScroll: true });
  }

  function clicked(el) {
    return new Promise(function (resolve) {
      el.addEventListener("click", function handler(ev) {
        ev.preventDefault();
        el.removeEventListener("click", handler);
        resolve(ev);
      });
    });
  }

  function stop(message) {
    $("stop-message").textContent = message;
    show("stop");
    stopped = true;
  }

  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
    this.reason = this.body.reason || null;
    this.message = typeof this.body.detail === "string" ? this.body.detail : "HTTP " + status;
  }

  var netStatus = $("net-status");
  function setNetProblem(text) {
    netStatus.textContent = text || "";
    netStatus.hidden = !text;
  }

  // Exponential backoff with jitter; network errors, 5xx and 429 are retried without limit.
  function backoff(attempt) {
    return Math.min(500 * Math.pow(2, attempt), 15000) * (0.75 + Math.random() * 0.5);
  }

  async function api(path, body) {
    for (var attempt = 0; ; attempt++) {
      var res = null;
      try {
        res = await fetch(cfg.api_base + path, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
          credentials: "same-origin",
          cache: "no-store"
        });
      } catch (e) { res = null; }
      if (res && res.ok) {
        setNetProblem(null);
        return res.json();
      }
      if (res && res.status < 500 && res.status !== 429) {
        var data = null;
        try { data = await res.json(); } catch (e) { data = null; }
        setNetProblem(null);
        throw new ApiError(res.status, data);
      }
      var wait = backoff(attempt);
      setNetProblem("Connection problem — retrying in " + Math.ceil(wait / 1000) +
        " s. Nothing is lost: your answers are kept until the server has them.");
      await sleep(wait);
    }
  }

  // ---------------------------------------------------------------- response queue
  // Answers wait here (memory + localStorage) until the server confirms them.
  var queue = store("queue") || [];
  var answered = store("answered") || [];
  var pumping = null;

  function persistQueue() { store("queue", queue); }

  function enqueue(payload) {
    queue.push(payload);
    persistQueue();
    if (answered.indexOf(payload.trial) < 0) answered.push(payload.trial);
    store("answered", answered);
    return pump();
  }

  function pump() {
    if (pumping) return pumping;
    var run = (async function () {
      while (queue.length) {
        try {
          await api("/api/responses", queue[0]);
        } catch (err) {
          if (err.status === 409 || err.status === 403 || err.status === 410) {
            stop((REASONS[err.reason] || err.message) + " Please return the HIT.");
            throw err;
          }
          // A payload the server can never accept: keep a copy for the record, go on.
          store("rejected", (store("rejected") || []).concat([{ payload: queue[0], error: err.message }]));
        }
        queue.shift();
        persistQueue();
      }
    })();
    pumping = run;
    var clear = function () { if (pumping === run) pumping = null; };
    run.then(clear, clear);
    return run;
  }

  // ---------------------------------------------------------------- videos
  var blobs = {};

  async function fetchBlobUrl(url) {
    for (var attempt = 0; ; attempt++) {
      try {
        var res = await fetch(url, { credentials: "same-origin", mode: "cors" });
        if (res.ok) {
          var blob = await res.blob();
          if (blob.size > 0) return URL.createObjectURL(blob);
        } else if (res.status === 404 && attempt >= 3) {
          throw new Error("video not found: " + url);
        }
      } catch (e) {
        if (attempt >= 3 && /not found/.test(String(e && e.message))) throw e;
      }
      var wait = backoff(attempt);
      $("trial-status").textContent = "Downloading the video failed — retrying in " + Math.ceil(wait / 1000) + " s…";
      await sleep(wait);
    }
  }

  function preload(trials, i) {
    if (i >= trials.length) return null;
    if (!blobs[i]) blobs[i] = fetchBlobUrl(trials[i].video_url);
    return blobs[i];
  }

  function release(i) {
    var p = blobs[i];
    delete blobs[i];
    if (p) p.then(function (u) { setTimeout(function () { URL.revokeObjectURL(u); }, 1000); });
  }

  function loadVideo(video, src) {
    return new Promise(function (resolve, reject) {
      function ready() {
        cleanup();
        resolve();
      }
      function failed() {
        cleanup();
        reject(new Error("the video could not be decoded"));
      }
      function cleanup() {
        video.removeEventListener("canplaythrough", ready);
        video.removeEventListener("error", failed);
      }
      video.addEventListener("canplaythrough", ready);
      video.addEventListener("error", failed);
      video.src = src;
      video.load();
    });
  }

  // ---------------------------------------------------------------- timing
  var playing = false;
  var hiddenDuring = false;
  var blurredDuring = false;
  document.addEventListener("visibilitychange", function () {
    if (playing && document.hidden) hiddenDuring = true;
  });
  window.addEventListener("blur", function () { if (playing) blurredDuring = true; });

  function quality(video) {
    if (typeof video.getVideoPlaybackQuality !== "function") return null;
    var q = video.getVideoPlaybackQuality();
    return { total: q.totalVideoFrames, dropped: q.droppedVideoFrames };
  }

  /* Ranges of frame indices confirmed as presented: a range grows while consecutive
   * callbacks advance presentedFrames by as much as the frame index (FACTS: callbacks skip
   * frames, the counter does not). */
  function frameLog(samples) {
    var runs = [];
    var prev = null;
    for (var i = 0; i < samples.length; i++) {
      var idx = Math.round(samples[i].mediaTime * FPS);
      var pf = samples[i].presentedFrames;
      if (prev && idx <= prev.idx) continue;
      if (prev && pf - prev.pf === idx - prev.idx) runs[runs.length - 1][1] = idx;
      else {
        // Fewer presentations than frames: something after prev.idx was dropped, so the frame
        // at prev.idx stayed on screen longer than one frame and is not confirmed either.
        if (prev && pf - prev.pf < idx - prev.idx) {
          var last = runs[runs.length - 1];
          if (last[1] === prev.idx) {
            if (last[0] === last[1]) runs.pop();
            else last[1] -= 1;
          }
        }
        runs.push([idx, idx]);
      }
      prev = { idx: idx, pf: pf };
    }
    var text = runs.map(function (r) { return r[0] + "-" + r[1]; }).join(",");
    if (!text || text.length > FRAME_LOG_MAX) return null;
    return text;
  }

  // A video that has not ended this long after its natural end is treated as stalled.
  var STALL_GRACE_MS = 2000;

  function playAndMeasure(video) {
    return new Promise(function (resolve, reject) {
      var samples = [];
      var ended = false;
      var settled = false;
      var watchdog = null;
      var rvfc = typeof video.requestVideoFrameCallback === "function";
      var q0 = quality(video);
      function onFrame(now, meta) {
        if (settled) return;
        samples.push({ mediaTime: meta.mediaTime, presentedFrames: meta.presentedFrames });
        if (!ended) video.requestVideoFrameCallback(onFrame);
      }
      function settle() {
        // Ends playback bookkeeping once; false when it already ended.
        if (settled) return false;
        settled = true;
        ended = true;
        playing = false;
        clearTimeout(watchdog);
        video.removeEventListener("error", onError);
        return true;
      }
      function finish(stalled) {
        if (!settle()) return;
        if (stalled) {
          video.pause();
          // The last frame shown stayed on screen (for seconds, not one refresh): it does not
          // count as presented, so a stall inside the image segment fails the timing check.
          samples.pop();
        }
        var q1 = quality(video);
        var dropped = q0 && q1 ? q1.dropped - q0.dropped : null;
        var log = rvfc ? frameLog(samples) : null;
        var total = null;
        if (rvfc && samples.length) total = samples[samples.length - 1].presentedFrames - samples[0].presentedFrames + 1;
        else if (q0 && q1) total = (q1.total - q0.total) - dropped;
        resolve({
          presented_frames: null,
          frame_log: stalled && !rvfc ? null : log,
          frames_presented_total: total,
          dropped_frames: dropped,
          hidden_during_video: hiddenDuring,
          blurred_during_video: blurredDuring,
          timing_source: log !== null ? "rvfc" : (q0 && !stalled ? "playback_quality" : "none")
        });
      }
      function onError() { finish(true); }
      // Registered before play(): otherwise the first frames may get no callback (FACTS.md).
      if (rvfc) video.requestVideoFrameCallback(onFrame);
      hiddenDuring = document.hidden;
      blurredDuring = !document.hasFocus();
      playing = true;
      video.addEventListener("ended", function () {
        // The last frame's callback can arrive just after "ended".
        setTimeout(function () { finish(false); }, 60);
      }, { once: true });
      // A decode error or a stall mid-video must not leave the worker stuck on a dead screen.
      video.addEventListener("error", onError);
      var limitMs = (isFinite(video.duration) && video.duration > 0 ? video.duration * 1000 : 15000) + STALL_GRACE_MS;
      watchdog = setTimeout(function () { finish(true); }, limitMs);
      var p = video.play();
      if (p && p.catch) {
        p.catch(function (err) {
          if (settle()) reject(err);
        });
      }
    });
  }

  function measureRefresh() {
    return new Promise(function (resolve) {
      var stamps = [];
      function tick(t) {
        stamps.push(t);
        if (t - stamps[0] < 1000) requestAnimationFrame(tick);
        else {
          var d = [];
          for (var i = 1; i < stamps.length; i++) d.push(stamps[i] - stamps[i - 1]);
          d.sort(function (a, b) { return a - b; });
          resolve(d.length ? d[Math.floor(d.length / 2)] : null);
        }
      }
      requestAnimationFrame(tick);
    });
  }

  // ---------------------------------------------------------------- screens
  function setProgress(done, n) {
    var i;
    var nos = document.querySelectorAll("[data-trial-no]");
    for (i = 0; i < nos.length; i++) nos[i].textContent = String(Math.min(done + 1, n));
    var ns = document.querySelectorAll("[data-trial-n]");
    for (i = 0; i < ns.length; i++) ns[i].textContent = String(n);
    var bars = document.querySelectorAll("[data-progress]");
    for (i = 0; i < bars.length; i++) {
      bars[i].max = n;
      bars[i].value = done;
      bars[i].setAttribute("aria-label", done + " of " + n + " trials done");
    }
  }

  function askAnswer(options) {
    return new Promise(function (resolve) {
      var box = $("answer-options");
      var next = $("answer-next");
      var form = $("answer-form");
      var filter = $("answer-filter");
      var inputs = [];
      box.textContent = "";
      next.disabled = true;
      options.forEach(function (name, i) {
        var label = document.createElement("label");
        label.className = "choice";
        var input = document.createElement("input");
        input.type = "radio";
        input.name = "answer";
        input.value = String(i);
        var key = document.createElement("span");
        key.className = "key";
        key.setAttribute("aria-hidden", "true");
        var text = document.createElement("span");
        text.className = "choice-text";
        text.textContent = name;
        label.appendChild(input);
        label.appendChild(key);
        label.appendChild(text);
        box.appendChild(label);
        inputs.push(input);
        input.addEventListener("change", function () { next.disabled = false; });
      });
      var many = options.length > 12;
      $("answer-filter-row").hidden = !many;
      $("answer-hint").hidden = many;
      $("answer-hint-many").hidden = !many;
      filter.value = "";
      function visible() { return inputs.filter(function (x) { return !x.parentNode.hidden; }); }
      function numberKeys() {
        var v = visible();
        inputs.forEach(function (x) { x.parentNode.querySelector(".key").textContent = ""; });
        v.slice(0, 10).forEach(function (x, k) {
          x.parentNode.querySelector(".key").textContent = String((k + 1) % 10);
        });
      }
      function onFilter() {
        var term = filter.value.trim().toLowerCase();
        inputs.forEach(function (x, i) {
          x.parentNode.hidden = term !== "" && options[i].toLowerCase().indexOf(term) < 0;
        });
        numberKeys();
      }
      filter.oninput = onFilter;
      numberKeys();
      var shownAt = performance.now();
      function choose(input) {
        input.checked = true;
        input.focus();
        next.disabled = false;
      }
      function onKey(ev) {
        if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
        var inText = ev.target === filter;
        if (!inText && /^[0-9]$/.test(ev.key)) {
          var k = ev.key === "0" ? 9 : Number(ev.key) - 1;
          var v = visible();
          if (k < v.length) { choose(v[k]); ev.preventDefault(); }
        } else if (ev.key === "Enter") {
          ev.preventDefault();
          if (!next.disabled) finish();
          else if (inText && visible().length === 1) choose(visible()[0]);
        }
      }
      function finish() {
        var picked = inputs.filter(function (x) { return x.checked; })[0];
        if (!picked) return;
        document.removeEventListener("keydown", onKey);
        form.onsubmit = null;
        resolve({ response: options[Number(picked.value)], response_time_ms: Math.round(performance.now() - shownAt) });
      }
      form.onsubmit = function (ev) { ev.preventDefault(); finish(); };
      document.addEventListener("keydown", onKey);
      show("answer");
      if (many) filter.focus();
    });
  }

  /* With turkSubmitTo (top level, or MTurk's own frame for an ExternalQuestion HIT) the runner
   * submits the HIT itself; inside the landing layout's iframe (no turkSubmitTo) it hands the
   * code to the layout, which submits. */
  function submitToMTurk(code) {
    if (cfg.turk_submit_to) {
      var form = $("submit-form");
      form.action = cfg.turk_submit_to + "/mturk/externalSubmit";
      $("submit-assignment").value = cfg.assignment_id;
      $("submit-code").value = code;
      form.hidden = false;
      $("done-status").textContent = "Submitting your HIT to MTurk…";
      setTimeout(function () { form.submit(); }, 1500);
      return;
    }
    if (window.parent && window.parent !== window) {
      window.parent.postMessage({ type: "mvt-complete", assignmentId: cfg.assignment_id, completionCode: code }, "*");
      $("done-status").textContent = "Your code has been passed to the HIT page; it submits the HIT for you. " +
        "If nothing happens, copy the code into the HIT page and press its Submit button.";
      return;
    }
    $("done-status").textContent = "Copy this code into the HIT page on MTurk to get paid.";
  }

  async function complete(token) {
    for (var attempt = 0; ; attempt++) {
      await pump();
      try {
        return await api("/api/complete", { assignment_token: token });
      } catch (err) {
        if (err.status === 409 && err.reason === "incomplete" && attempt < 5) {
          await sleep(backoff(attempt));
          continue;
        }
        throw err;
      }
    }
  }

  function finishScreen(code) {
    store("queue", []);
    $("completion-code").textContent = code;
    show("done");
    submitToMTurk(code);
  }

  // Space or Enter starts the video even when the Play button has lost focus.
  document.addEventListener("keydown", function (ev) {
    var play = $("play");
    if ($("screen-trial").hidden) return;
    if ((ev.key === " " || ev.key === "Enter") && ev.target !== play && !play.disabled) {
      ev.preventDefault();
      play.click();
    }
  });

  // ---------------------------------------------------------------- main flow
  async function main() {
    if (!store("consented")) {
      show("consent");
      var choice = await Promise.race([
        clicked($("consent-agree")).then(function () { return "agree"; }),
        clicked($("consent-decline")).then(function () { return "decline"; })
      ]);
      if (choice === "decline") {
        stop("You did not agree to take part. Please return the HIT; nothing has been recorded.");
        return;
      }
      store("consented", true);
    }
    var assignmentP = api("/api/assignments", {
      link: cfg.link, worker_id: cfg.worker_id, assignment_id: cfg.assignment_id, hit_id: cfg.hit_id || null
    });
    assignmentP.catch(function () { /* handled below */ });
    if (!store("instructed")) {
      show("instructions");
      await clicked($("instructions-continue"));
      store("instructed", true);
    } else {
      show("loading");
    }
    var a;
    try {
      a = await assignmentP;
    } catch (err) {
      stop((REASONS[err.reason] || err.message) + " Please return the HIT.");
      return;
    }
    if (a.completed && a.completion_code) { finishScreen(a.completion_code); return; }
    var trials = a.trials;
    var n = trials.length;
    // Answers still queued from before a reload belong to this assignment's new token.
    queue.forEach(function (p) { p.assignment_token = a.assignment_token; });
    persistQueue();
    pump().catch(function () {});
    var start = a.resume_from || 0;
    while (start < n && answered.indexOf(trials[start].trial) >= 0) start++;

    // Display check
    show("check");
    preload(trials, start);
    var interval = await measureRefresh();
    var hz = interval ? 1000 / interval : null;
    $("check-status").hidden = true;
    var result = $("check-result");
    result.hidden = false;
    result.textContent = hz ? "Your screen refreshes about " + Math.round(hz) + " times per second." :
      "Your screen's refresh rate could not be measured.";
    var warnings = [];
    if (!hz || Math.abs(hz - cfg.expected_hz) > 3) {
      warnings.push("This task is designed for a 60 Hz display; on yours the shortest pictures may be " +
        "shown for a different time. If you can, set your display to 60 Hz; otherwise you may still continue.");
    }
    if (Math.min(window.innerWidth, window.innerHeight - 170) < cfg.video_css_px * 0.75) {
      warnings.push("Your window is small, so the videos will be shown smaller than intended. " +
        "Please make the window larger (or zoom out) if you can.");
    }
    if (warnings.length) {
      $("check-warning").hidden = false;
      $("check-warning").textContent = warnings.join(" ");
    }
    if (start > 0) result.textContent += " Welcome back: you continue at trial " + (start + 1) + " of " + n + ".";
    $("check-continue").disabled = false;
    $("check-continue").focus();
    await clicked($("check-continue"));

    var video = $("video");
    for (var t = start; t < n; t++) {
      if (answered.indexOf(trials[t].trial) >= 0) continue;
      setProgress(t, n);
      var play = $("play");
      play.disabled = true;
      $("trial-status").textContent = "Loading video…";
      show("trial");
      var src = await preload(trials, t);
      var timing;
      for (;;) {
        try {
          await loadVideo(video, src);
          $("trial-status").textContent = "Look at the cross in the middle, then press Play (or the space bar).";
          play.disabled = false;
          play.focus();
          await clicked(play);
          play.disabled = true;
          $("trial-status").textContent = "";
          timing = await playAndMeasure(video);
          break;
        } catch (err) {
          $("trial-status").textContent = "The video could not be played (" + (err && err.message) + "). Press Play to try again.";
          release(t);
          src = await preload(trials, t);
        }
      }
      // Download the next videos while the worker answers, not while this one plays.
      preload(trials, t + 1);
      preload(trials, t + 2);
      var answer = await askAnswer(trials[t].options && trials[t].options.length ? trials[t].options : a.options);
      release(t);
      timing.refresh_interval_ms = interval === null ? null : Math.round(interval * 1000) / 1000;
      enqueue(Object.assign({
        assignment_token: a.assignment_token,
        trial: trials[t].trial,
        response: answer.response,
        response_time_ms: answer.response_time_ms
      }, timing)).catch(function () {});
    }
    setProgress(n, n);
    show("loading");
    try {
      var done = await complete(a.assignment_token);
      finishScreen(done.completion_code);
    } catch (err) {
      stop("Your answers are saved, but the task could not be completed (" + err.message +
        "). Please reload this page; if that does not help, contact the requester.");
    }
  }

  main().catch(function (err) {
    if (stopped) return;
    stop("Something went wrong (" + (err && err.message) + "). Please reload the page; your answers so far are kept.");
  });
})();
