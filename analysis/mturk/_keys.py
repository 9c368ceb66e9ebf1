"""Temporary home of the MTurk key builders until they move to the end of app/keys.py."""

PREFIX = "mvt"

# ---------------------------------------------------------------------------------------------
# MTurk bookkeeping section (writer: ``analysis/mturk/`` via ``mvt mturk …``).
#
# ``E`` is the MTurk environment, ``sandbox`` or ``production``, so that trying a study in the
# sandbox never marks production work as done. ``A`` is an action: ``create``, ``approve``,
# ``reject``, ``bonus``, ``block``, ``unblock``, ``notify``, ``expire``, ``extend``.
#
# ======================================  ======  ============================================  ====
# key (builder)                           type    contents                                      TTL
# ======================================  ======  ============================================  ====
# ``mvt:mturk:E:hits`` (mturk_hits)       hash    HIT id → JSON {hit_id, link_id, url,          none
#                                                 max_assignments, created_at, source}: our HITs
# ``mvt:mturk:E:link-hits``               hash    link id → HIT id created for it by             none
# (mturk_link_hits)                               ``create-hits``
# ``mvt:mturk:E:assignments``             hash    assignment id → JSON {assignment_id,          none
# (mturk_assignments)                             worker_id, hit_id, status, submitted_at,
#                                                 completion_code, fetched_at}, as last listed
# ``mvt:mturk:E:done:A`` (mturk_done)     hash    item → JSON {at, token?, amount?, …}: the     none
#                                                 action succeeded on MTurk; re-runs skip it.
#                                                 Items: assignment id (approve, reject),
#                                                 ``<assignment>:<kind>`` (bonus), worker id
#                                                 (block, unblock), ``<digest>:<worker>``
#                                                 (notify), link id (create), HIT id (expire),
#                                                 ``<hit>:<batch>`` (extend)
# ``mvt:mturk:E:failed:A``                hash    item → JSON {at, error, attempts}: the last   none
# (mturk_failed)                                  try failed; cleared when a re-run succeeds
# ======================================  ======  ============================================  ====

MTURK_ENVIRONMENTS = ("sandbox", "production")
"""The MTurk environments bookkeeping keys are separated by."""

MTURK_ACTIONS = ("create", "approve", "reject", "bonus", "block", "unblock", "notify", "expire",
                 "extend")
"""The MTurk actions recorded in ``mturk_done`` and ``mturk_failed``."""


def _mturk(env: str, part: str) -> str:
    if env not in MTURK_ENVIRONMENTS:
        raise ValueError(f"MTurk environment ({env!r}) must be one of {MTURK_ENVIRONMENTS}")
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


def _action(action: str) -> str:
    if action not in MTURK_ACTIONS:
        raise ValueError(f"MTurk action ({action!r}) must be one of {MTURK_ACTIONS}")
    return action


def mturk_done(env: str, action: str) -> str:
    """Hash item → JSON record of an MTurk action that succeeded (re-runs skip it)."""
    return _mturk(env, f"done:{_action(action)}")


def mturk_failed(env: str, action: str) -> str:
    """Hash item → JSON record of the last failed try of an MTurk action."""
    return _mturk(env, f"failed:{_action(action)}")
