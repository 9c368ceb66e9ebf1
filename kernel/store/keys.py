"""Every Redis key mvt-server uses, built by the functions below; this docstring is the schema.

Keys start with ``mvt:`` and are ``:``-separated. Keys of one link share the hash tag
``{<link_id>}``, keys of one worker the tag ``{w:<worker_id>}`` and the global indexes the tag
``{g}``, so each Lua script touches one hash slot and stays valid on Redis Cluster; a pipeline
that mixes tags is split by slot by the client (``kernel/store/fastredis.py``, redis-py's
``RedisCluster``). Ids match ``[A-Za-z0-9_-]{1,64}``, so they
cannot contain ``{``, ``}`` or ``:``. No key has a TTL: an experiment's data is kept until an
operator deletes it (the client limits below excepted).

Experiment server section (writers: loader = ``studies/loader.py`` via ``mvt load``,
allocate = ``kernel/store/lua/allocate.lua``, reserve = ``kernel/store/lua/reserve.lua``,
record = ``kernel/store/lua/record.lua``, start = ``kernel/store/lua/start.lua``, complete = ``kernel/store/lua/complete.lua``,
replace = ``kernel/store/lua/replace.lua``, admin = ``kernel/admin.py``, service = ``kernel/responses.py``
(``POST /api/failure``; a completion's pipeline), pages = ``app/routes/pages.py`` (a participant's arrival),
assignments = ``kernel/assignments.py`` after allocate.lua):

=======================================  ======  ============================================  ====  ==================
key (builder)                            type    contents                                      TTL   writer
=======================================  ======  ============================================  ====  ==================
``mvt:{g}:links`` (links_index)          set     every loaded link id                          none  loader
``mvt:{g}:video-dirs`` (video_dirs)      set     absolute ``videos/`` folders of loaded        none  loader
                                                 experiments, searched by ``/videos/<id>.mp4``
``mvt:{g}:blocked`` (blocked_index)      set     blocked worker ids (for listing)              none  admin
``mvt:{g}:assignment-links``             hash    assignment id → link id of its first          none  assignments
(assignment_links)                               allocation (lookup for replace/completion)
``mvt:{g}:assignment-resumed``           hash    a new assignment id → the participant's       none  placement
(assignment_resumed)                             unfinished assignment it resumed (Prolific:
                                                 a new SESSION_ID), so review matches the
                                                 new session to the finished task
``mvt:link:{L}:meta`` (link_meta)        hash    experiment_id, kind (study kind, ``mvt``      none  loader
                                                 when absent), n_lists, n_trials, the kind's
                                                 meta (MVT: fps, fixation_frames), options
                                                 (JSON list), design_hash, videos_dir; for an
                                                 adaptive study's link images (JSON list of
                                                 ``<experiment>/<image id>`` it shows: batches
                                                 regroup images into new links); paused (``1``
                                                 while the researcher holds new arrivals:
                                                 kernel/control.py, read by allocate)
``mvt:link:{L}:options``                 set     the answer options (class names)              none  loader
(link_options)
``mvt:link:{L}:lists`` (link_lists)      hash    list index → JSON list of video ids, in       none  loader
                                                 trial order (what the browser may know)
``mvt:link:{L}:answers``                 hash    ``<list>:<trial>`` → JSON ``[label, frames,   none  loader
(link_answers)                                   image_id, video_id, fixation_frames,
                                                 mask_frames]`` (MVT; mask_frames since 0.4)
                                                 (never sent out)
``mvt:link:{L}:free`` (link_free)        list    list indices never handed out                 none  loader, allocate
``mvt:link:{L}:served``                  hash    assignment id → its answer to ``POST          none  assignments,
(link_served)                                    /api/assignments``, kept when it first came         allocate,
                                                 back (a tag line, then base64 of raw                service
                                                 deflate: `app.service.kept_answer`);
                                                 dropped when its list is taken over or
                                                 its task completed
``mvt:link:{L}:slots`` (link_slots)      hash    list index → assignment id holding it now     none  allocate
``mvt:link:{L}:assignments``             hash    assignment id → JSON {worker, hit, list,      none  allocate, record,
(link_assignments)                               status, started_ms, active_ms, next,                complete, replace
                                                 n_done, completed_ms, code}; status ∈
                                                 in_progress, complete, to_replace,
                                                 replaced, expired
``mvt:link:{L}:workers``                 hash    worker id → their assignment id on this link  none  allocate
(link_workers)                                   (kept after expiry/replacement: seen is seen)
``mvt:link:{L}:activity``                zset    assignment id → last activity (ms since       none  allocate, record,
(link_activity)                                  epoch), unfinished slot holders only                complete, replace
``mvt:link:{L}:unstarted``               zset    assignment id → ms it started, for holders    none  allocate
(link_unstarted)                                 that had not answered a trial then; one
                                                 still without an answer after
                                                 MVT_FIRST_TRIAL_MINUTES gives its list up
                                                 (stale entries are dropped by allocate)
``mvt:link:{L}:replace``                 set     list indices whose holder is marked for       none  replace, allocate
(link_replace)                                   replacement and not yet taken over
``mvt:link:{L}:responses``               hash    ``<assignment>:<trial>`` → compact JSON array none  record
(link_responses)                                 (record.lua's computed values, tab id, mask
                                                 of the client fields stored and their
                                                 values; before 0.2 a JSON object), read only
                                                 by kernel.responses.decode_response; first
                                                 write wins
``mvt:experiment:E:study``               string  JSON of the experiment's ``study.json``       none  loader
(experiment_study)                               (``stimuli/study.py``): its words and device
                                                 rules, served in the worker page's config;
                                                 without one the kind's ``page_study`` (rating
                                                 studies: media kind, headphone check); read
                                                 only by kernel.loaded_study
``mvt:link:{L}:starts``                  hash    ``<assignment>:<trial>`` → comma-separated    none  start
(link_starts)                                    start ids the browser announced before
                                                 playing (``POST /api/trial-start``); their
                                                 number is the trial's ``plays``
``mvt:link:{L}:timing`` (link_timing)    hash    ``n|<display>`` and ``ok|<display>`` → the    none  record
                                                 link's recorded trials with a timing verdict
                                                 and those timing_ok, per display
                                                 ``<browser>|<OS>|<Hz>|<dpr>``
``mvt:link:{L}:blocked``                 set     blocked worker ids among those given a list   none  admin
(link_blocked)                                   of the link (the worker's ``blocked`` key,
                                                 copied to each of their links so that
                                                 record.lua refuses them in the link's slot)
                                                 (kernel/quality.py), for the control room
``mvt:link:{L}:failures``                hash    assignment id → JSON {trial, reason, at_ms}:  none  service
(link_failures)                                  why the page gave up (``POST /api/failure``)
``mvt:link:{L}:platforms``               hash    assignment id → name of the platform it       none  pages
(link_platforms)                                 arrived from, for platforms whose completion
                                                 URL (with the code) is built only at
                                                 ``POST /api/complete``
``mvt:worker:{w:W}:links``               set     link ids this worker was ever given (or is    none  reserve
(worker_links)                                   being given) a list of; its size is the cap
``mvt:worker:{w:W}:blocked``             string  ``1`` while the worker is blocked             none  admin
(worker_blocked)
``mvt:worker:{w:W}:images``              set     ``<experiment>/<image id>`` of every image    none  reserve
(worker_images)                                  of the (adaptive) links the worker was given
                                                 (their meta's images); a link showing one of
                                                 them is refused
=======================================  ======  ============================================  ====  ==================

Client limits section (writer: ``kernel/store/lua/ratelimit.lua`` via ``kernel/limits.py``; removal of a
held assignment: ``kernel/limits.py``). ``IP`` is the client address as the server sees it (IPv6
addresses keep their colons); every key of one client shares the hash tag ``{ip:<IP>}``. Unlike
the keys above these expire by themselves: a missing bucket is a full one.

=======================================  ======  ============================================  =======  ==================
key (builder)                            type    contents                                      TTL      writer
=======================================  ======  ============================================  =======  ==================
``mvt:limit:{ip:IP}:rate:N``             string  the bucket's theoretical arrival time (ms,     refill   ratelimit
(limit_bucket)                                   GCRA): the rate bucket ``N``                  time
                                                 (``assignments``, ``eligibility``) of one     + 1 s
                                                 client; before 0.2 a hash at ``…:N``
``mvt:limit:{ip:IP}:rate:N:w:W``         string  the same for one worker id from that client   refill   ratelimit
(limit_worker_bucket)                                                                          time
                                                                                               + 1 s
``mvt:limit:{arr:E}:rate:arrivals``      string  the same: the bucket of new participants      refill   ratelimit
(limit_arrivals)                                 placed in experiment ``E`` (``/prolific``,    time
                                                 ``/panel``), all addresses together           + 1 s
                                                 (``MVT_LIMIT_ARRIVALS_PER_MIN``)
``mvt:limit:{ip:IP}:held``               zset    assignment id → ms first admitted: the        7 days   ratelimit,
(limit_held)                                     client's assignments that hold a list         after    limits
                                                 (removed on completion, and by limits when    the last
                                                 the cap is reached for those that no longer   admission
                                                 hold one: completed, expired, replaced)
=======================================  ======  ============================================  =======  ==================

Control room section (writers: ``kernel/control.py``, called by allocation
(``kernel/assignments.py``), completion (``kernel/responses.py``) and the ``/admin/`` page). ``M``
is a minute (ms since the epoch // 60000), ``V`` an event: ``arrivals`` (a new list handed out),
``completions`` (an assignment completed for the first time) or ``refusals`` (a refused request for a
list of a loaded link, counted per ``<link id>:<reason>``; rate limits are not counted). These keep the page's figures
without a scan of responses; the per-minute counts expire by themselves.

=======================================  ======  ============================================  =======  ==================
key (builder)                            type    contents                                      TTL      writer
=======================================  ======  ============================================  =======  ==================
``mvt:{g}:per-minute:V:M``               hash    link id (refusals: ``<link>:<reason>``) →     2 h      allocate,
(minute_counts)                                  how many ``V`` events it had in minute ``M``           complete, service
``mvt:{g}:per-hour:V:H``                 hash    the same per hour ``H`` (ms // 3600000)        25 h     allocate,
(hour_counts)                                                                                           complete, service
``mvt:{g}:control-log`` (control_log)    list    JSON {at_ms, who, action, target, why},       none     control room
                                                 newest first, trimmed to 500 entries
``mvt:{g}:control-overview``             string  JSON of the last overview computed by any    120 s    control room,
(control_overview)                               server process ({at_ms, took_s, experiments}),          mvt drop
                                                 shared by every dashboard
``mvt:{g}:control-overview-lock``        string  held (SET NX) by the process computing the   30 s     control room
(control_overview_lock)                          overview, so one computes it per interval
``mvt:{g}:control-watched``              string  set by each dashboard's poll: a dashboard is  15 s     control room
(control_watched)                                open (the supervisor's publisher computes)
``mvt:limit:{ip:IP}:signin``             string  sign-in attempts of client ``IP`` on          60 s     control room
(signin_attempts)                                ``/admin/`` in the current minute
``mvt:{g}:tallies`` (tally_index)        set     experiment ids whose counts below are kept    none     tally
``mvt:{g}:tally:E`` (experiment_tally)   hash    ``kind``, ``epoch`` (new at each recount);    none     tally,
                                                 per link ``L``: ``L|n`` lists,
                                                 ``L|h`` handed out (its slots), ``L|u``                assignments,
                                                 unfinished holders (its activity), ``L|r``             complete,
                                                 marked for replacement, ``L|p`` ``1`` when             admin, control
                                                 paused (kernel/tally.py)
``mvt:{g}:holders:E`` (tally_holders)    zset    ``L:<assignment>`` → last activity known      none     tally,
                                                 (ms) of each unfinished holder; a holder               assignments,
                                                 older than the allotted time is checked                complete, admin
                                                 against its link's activity when read
``mvt:{g}:task-times:E``                 list    ``L:<assignment>:<seconds>`` of the last      none     complete, tally
(tally_task_times)                               1000 completed tasks, newest first
=======================================  ======  ============================================  =======  ==================

Analysis flags section (writer: ``kernel/flags.py``, called by ``mvt analyze`` (record), ``mvt unflag``
(clear) and the control room's Flag and Unflag actions (a flag by hand has rule ``by hand`` and
``by``, the session that set it); readers: analysis (earlier flags stay flagged) and every platform's review, bonus and block
(``platforms/screening.py``)). A flag stays until ``mvt unflag`` clears it with a reason.

=======================================  ======  ============================================  ====  ==================
key (builder)                            type    contents                                      TTL   writer
=======================================  ======  ============================================  ====  ==================
``mvt:{g}:flags`` (worker_flags)         hash    worker id → JSON {worker_id, reason, rules,   none  analyze
                                                 numbers, experiments, at, run, first_at,
                                                 first_run}: the worker's standing flag (the
                                                 rules that flagged them, their numbers, the
                                                 analysis run and its time)
``mvt:{g}:unflagged`` (worker_unflagged) hash    worker id → JSON {worker_id, reason, at,      none  unflag
                                                 flag}: why and when a flag was cleared (the
                                                 cleared flag kept in ``flag``)
``mvt:{g}:analysis-runs``                list    JSON {run, at, experiments, source,           none  analyze
(analysis_runs)                                  n_flagged, n_new}, one per ``mvt analyze``
                                                 that read Redis, oldest first
=======================================  ======  ============================================  ====  ==================

Before version 0.2 the four global keys had no hash tag (``mvt:links``, ``mvt:video-dirs``,
``mvt:blocked``, ``mvt:assignment-links``: `LEGACY_GLOBAL_KEYS`); the server and every command
that opens the store move them to the names above (``kernel/store/connect.py``).

MTurk bookkeeping section (writer: ``platforms/mturk/`` via ``mvt mturk …``; builders at the end of
this module). ``E`` is the MTurk environment, ``sandbox`` or ``production``, so that trying a study
in the sandbox never marks production work as done. ``A`` is an action: ``create``, ``approve``,
``reject``, ``bonus``, ``block``, ``unblock``, ``notify``, ``expire``, ``extend``.

=======================================  ======  ============================================  ====  ==================
key (builder)                            type    contents                                      TTL   writer
=======================================  ======  ============================================  ====  ==================
``mvt:mturk:E:hits`` (mturk_hits)        hash    HIT id → JSON {hit_id, link_id, url,          none  create-hits,
                                                 max_assignments, created_at, source}: the           ids given to any
                                                 HITs the commands work on                           command
``mvt:mturk:E:link-hits``                hash    link id → HIT id ``create-hits`` made for it  none  create-hits
(mturk_link_hits)
``mvt:mturk:E:assignments``              hash    assignment id → JSON {assignment_id,          none  assignments,
(mturk_assignments)                              worker_id, hit_id, status, submitted_at,            review
                                                 completion_code, fetched_at} as last listed
``mvt:mturk:E:done:A``                   hash    item → JSON {at, token?, amount?, …}: the     none  every changing
(platform_done)                                  action succeeded on MTurk, re-runs skip it.         command
                                                 Items: assignment id (approve, reject),
                                                 ``<assignment>:<kind>`` (bonus), worker id
                                                 (block, unblock), ``<digest>:<worker>``
                                                 (notify), link id (create), HIT id (expire),
                                                 ``<hit>:<batch>:<time|assignments>`` (extend)
``mvt:mturk:E:failed:A``                 hash    item → JSON {at, error, attempts}: the last   none  every changing
(platform_failed)                                try failed; cleared when a re-run succeeds          command
=======================================  ======  ============================================  ====  ==================

Platform ledger section (writer: ``platforms/ledger.py`` for every platform's operations, e.g.
``mvt prolific …``). ``P`` is the platform (``mturk``, ``prolific``), ``E`` its environment
(MTurk: ``sandbox``/``production``; Prolific: ``production`` for api.prolific.com, ``test`` for
any other API address). For ``P`` = ``mturk`` these are exactly the MTurk keys above. ``K`` is
a kind of record the platform keeps: Prolific's ``studies`` (experiment name → JSON {study_id,
name, places, reward_cents, …}), ``submissions`` (submission id → JSON {submission_id,
participant_id, study_id, status, study_code, started_at, completed_at, fetched_at}) and
``bulk-bonuses`` (``<study>:<digest>`` → JSON {bulk_id, total_amount, csv}).

=======================================  ======  ============================================  ====  ==================
key (builder)                            type    contents                                      TTL   writer
=======================================  ======  ============================================  ====  ==================
``mvt:P:E:done:A`` (platform_done)       hash    item → JSON {at, …}: the action succeeded     none  every changing
                                                 on the platform; re-runs skip it                    command
``mvt:P:E:failed:A`` (platform_failed)   hash    item → JSON {at, error, attempts, …}: the     none  every changing
                                                 last try failed; cleared on success                 command
``mvt:P:E:K`` (platform_records)         hash    id → JSON record of kind ``K`` (above)        none  the platform's
                                                                                                     commands
=======================================  ======  ============================================  ====  ==================
"""

from __future__ import annotations

PREFIX = "mvt"


def _global(part: str) -> str:
    return f"{PREFIX}:{{g}}:{part}"


def links_index() -> str:
    """Set of every loaded link id."""
    return _global("links")


def video_dirs() -> str:
    """Set of the ``videos/`` folders of loaded experiments."""
    return _global("video-dirs")


def blocked_index() -> str:
    """Set of blocked worker ids, for listing."""
    return _global("blocked")


def assignment_links() -> str:
    """Hash assignment id → link id."""
    return _global("assignment-links")


def assignment_resumed() -> str:
    """Hash new assignment id → the unfinished assignment id it resumed (placement)."""
    return _global("assignment-resumed")


def worker_flags() -> str:
    """Hash worker id → JSON of the worker's standing analysis flag."""
    return _global("flags")


def worker_unflagged() -> str:
    """Hash worker id → JSON {reason, at, flag} of the last cleared flag."""
    return _global("unflagged")


def analysis_runs() -> str:
    """List of JSON records of the analyses that stored flags, oldest first."""
    return _global("analysis-runs")


def experiment_study(experiment_id: str) -> str:
    """String: JSON of an experiment's ``study.json`` (or its kind's ``page_study``)."""
    return f"{PREFIX}:experiment:{experiment_id}:study"


def _link(link_id: str, part: str) -> str:
    return f"{PREFIX}:link:{{{link_id}}}:{part}"


def link_meta(link_id: str) -> str:
    """Hash of a link's metadata."""
    return _link(link_id, "meta")


def link_options(link_id: str) -> str:
    """Set of the link's answer options."""
    return _link(link_id, "options")


def link_lists(link_id: str) -> str:
    """Hash list index → JSON list of video ids."""
    return _link(link_id, "lists")


def link_answers(link_id: str) -> str:
    """Hash ``<list>:<trial>`` → JSON ``[label, frames, image_id, video_id, fixation_frames, mask_frames]``."""
    return _link(link_id, "answers")


def link_served(link_id: str) -> str:
    """Hash assignment id → its kept answer (`app.service.kept_answer`), while it holds an unfinished list."""
    return _link(link_id, "served")


def link_free(link_id: str) -> str:
    """List of list indices never handed out."""
    return _link(link_id, "free")


def link_slots(link_id: str) -> str:
    """Hash list index → assignment id holding it."""
    return _link(link_id, "slots")


def link_assignments(link_id: str) -> str:
    """Hash assignment id → JSON assignment record."""
    return _link(link_id, "assignments")


def link_workers(link_id: str) -> str:
    """Hash worker id → assignment id on this link."""
    return _link(link_id, "workers")


def link_activity(link_id: str) -> str:
    """Sorted set assignment id → last activity in ms, unfinished holders only."""
    return _link(link_id, "activity")


def link_unstarted(link_id: str) -> str:
    """Sorted set assignment id → ms started, holders that had not answered a trial (pruned lazily)."""
    return _link(link_id, "unstarted")


def link_replace(link_id: str) -> str:
    """Set of list indices marked for replacement."""
    return _link(link_id, "replace")


def link_responses(link_id: str) -> str:
    """Hash ``<assignment>:<trial>`` → JSON response."""
    return _link(link_id, "responses")


def link_starts(link_id: str) -> str:
    """Hash ``<assignment>:<trial>`` → comma-separated start ids announced before playing."""
    return _link(link_id, "starts")


def link_timing(link_id: str) -> str:
    """Hash ``n|<display>`` / ``ok|<display>`` → trials with a timing verdict / timing_ok, per display."""
    return _link(link_id, "timing")


def link_blocked(link_id: str) -> str:
    """Set of the blocked workers among those given a list of the link (`kernel.admin.block_workers`)."""
    return _link(link_id, "blocked")


def link_failures(link_id: str) -> str:
    """Hash assignment id → JSON {trial, reason, at_ms} of the page giving up."""
    return _link(link_id, "failures")


def worker_images(worker_id: str) -> str:
    """Set of ``<experiment>/<image id>`` of the adaptive links a worker was given."""
    return f"{PREFIX}:worker:{{w:{worker_id}}}:images"
def link_platforms(link_id: str) -> str:
    """Hash assignment id → the platform it arrived from (platforms that finish with a code URL)."""
    return _link(link_id, "platforms")


def worker_links(worker_id: str) -> str:
    """Set of link ids a worker was given a list of."""
    return f"{PREFIX}:worker:{{w:{worker_id}}}:links"


def worker_blocked(worker_id: str) -> str:
    """String ``1`` while the worker is blocked."""
    return f"{PREFIX}:worker:{{w:{worker_id}}}:blocked"


def _limit(ip: str, part: str) -> str:
    return f"{PREFIX}:limit:{{ip:{ip}}}:{part}"


def limit_bucket(ip: str, name: str) -> str:
    """String: rate bucket ``name`` of client ``ip`` (its theoretical arrival time, ratelimit.lua)."""
    return _limit(ip, f"rate:{name}")


def limit_worker_bucket(ip: str, name: str, worker_id: str) -> str:
    """String: rate bucket ``name`` of one worker id from client ``ip``."""
    return _limit(ip, f"rate:{name}:w:{worker_id}")


def limit_arrivals(experiment_id: str) -> str:
    """String: rate bucket of new participants placed in an experiment, from every address."""
    return f"{PREFIX}:limit:{{arr:{experiment_id}}}:rate:arrivals"


def limit_held(ip: str) -> str:
    """Sorted set assignment id → ms first admitted: unfinished assignments of client ``ip``."""
    return _limit(ip, "held")


def minute_counts(event: str, minute: int) -> str:
    """Hash link id → count of ``event`` (``arrivals``, ``completions``) in ``minute``."""
    return _global(f"per-minute:{event}:{minute}")


def hour_counts(event: str, hour: int) -> str:
    """Hash link id → count of ``event`` in ``hour``."""
    return _global(f"per-hour:{event}:{hour}")


def control_log() -> str:
    """List of JSON records of the control room's actions, newest first."""
    return _global("control-log")


def control_overview() -> str:
    """String: JSON of the last overview computed for the control room (shared by every process)."""
    return _global("control-overview")


def control_overview_lock() -> str:
    """String held by the process computing the overview (SET NX EX)."""
    return _global("control-overview-lock")


def control_watched() -> str:
    """String set by every poll of a dashboard (``mvt serve``'s publisher computes while it lives)."""
    return _global("control-watched")


def tally_index() -> str:
    """Set of the experiment ids whose control-room counts (`experiment_tally`) are kept."""
    return _global("tallies")


def experiment_tally(experiment_id: str) -> str:
    """Hash: an experiment's per-link list counts for the control room (kernel/tally.py)."""
    return _global(f"tally:{experiment_id}")


def tally_holders(experiment_id: str) -> str:
    """Sorted set ``<link>:<assignment>`` → last activity known of an experiment's unfinished holders."""
    return _global(f"holders:{experiment_id}")


def tally_task_times(experiment_id: str) -> str:
    """List ``<link>:<assignment>:<seconds>`` of an experiment's last completed tasks, newest first."""
    return _global(f"task-times:{experiment_id}")


def signin_attempts(ip: str) -> str:
    """String: sign-in attempts of client ``ip`` in the current minute."""
    return _limit(ip, "signin")


LEGACY_GLOBAL_KEYS = {f"{PREFIX}:links": links_index(), f"{PREFIX}:video-dirs": video_dirs(),
                      f"{PREFIX}:blocked": blocked_index(), f"{PREFIX}:assignment-links": assignment_links()}
"""Old name → current name of each global key (the old names had no hash tag)."""

LINK_KEY_BUILDERS = (link_meta, link_options, link_lists, link_answers, link_served, link_free, link_slots,
                     link_assignments, link_workers, link_activity, link_replace, link_responses, link_failures, link_platforms,
                     link_unstarted, link_starts, link_timing, link_blocked)
"""Every per-link key builder (the loader deletes these when it reloads a link)."""


# --- MTurk bookkeeping (platforms/mturk/) --------------------------------------------------------

def _mturk(env: str, part: str) -> str:
    return f"{PREFIX}:mturk:{env}:{part}"


def mturk_hits(env: str) -> str:
    """Hash HIT id → JSON record of one of our HITs in MTurk environment ``env``."""
    return _mturk(env, "hits")


def mturk_link_hits(env: str) -> str:
    """Hash link id → the HIT id ``create-hits`` made for it."""
    return _mturk(env, "link-hits")


def mturk_assignments(env: str) -> str:
    """Hash assignment id → JSON summary of the assignment as MTurk last listed it."""
    return _mturk(env, "assignments")


def platform_done(platform: str, env: str, action: str) -> str:
    """Hash item → JSON record of a platform ``action`` that succeeded (re-runs skip it)."""
    return f"{PREFIX}:{platform}:{env}:done:{action}"


def platform_failed(platform: str, env: str, action: str) -> str:
    """Hash item → JSON record of the last failed try of a platform ``action``."""
    return f"{PREFIX}:{platform}:{env}:failed:{action}"


def platform_records(platform: str, env: str, kind: str) -> str:
    """Hash id → JSON record of ``kind`` (e.g. Prolific ``studies``, ``submissions``)."""
    return f"{PREFIX}:{platform}:{env}:{kind}"
