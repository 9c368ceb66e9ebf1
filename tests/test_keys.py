"""Every key builder in kernel/store/keys.py is documented in the module's schema table."""

import inspect
import re

from kernel.store import keys


SERVER_BUILDERS = {"links_index", "video_dirs", "blocked_index", "assignment_links", "link_meta", "link_options", "link_lists",
                   "link_answers", "link_free", "link_slots", "link_assignments", "link_workers", "link_activity",
                   "link_replace", "link_responses", "worker_links", "worker_blocked"}


def _builders():
    return [f for name, f in inspect.getmembers(keys, inspect.isfunction)
            if f.__module__ == keys.__name__ and not name.startswith("_")]


def test_every_builder_is_in_a_schema_table():
    # The server's table is the module docstring; a later section may document its own
    # builders in its own table (a comment block), so the whole source is searched.
    source = inspect.getsource(keys)
    missing = [f.__name__ for f in _builders() if f"({f.__name__})" not in source]
    assert missing == []
    assert all(f"({f.__name__})" in keys.__doc__ for f in _builders() if f.__name__ in SERVER_BUILDERS)


def test_every_key_has_the_prefix_and_link_keys_share_the_hash_tag():
    for f in _builders():
        args = ["L1"] * len(inspect.signature(f).parameters)
        key = f(*args)
        assert key.startswith("mvt:"), key
        assert "::" not in key, key
    tags = {re.search(r"\{([^}]*)\}", b("exp-001")).group(1) for b in keys.LINK_KEY_BUILDERS}
    assert tags == {"exp-001"}
    assert re.search(r"\{([^}]*)\}", keys.worker_links("W1")).group(1) == \
        re.search(r"\{([^}]*)\}", keys.worker_blocked("W1")).group(1)
