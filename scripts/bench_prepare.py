"""Data for `scripts/bench_server`, made with a checkout's own code (its store format).

Run as ``CHECKOUT/.venv/bin/python scripts/bench_prepare.py REDIS_URL EXP_DIR SECRET TAG N N_LINKS OUT.json``
with ``PYTHONPATH=CHECKOUT``: flushes the store, loads the experiment (the first time; later its
keys are restored from a snapshot next to OUT.json, seconds instead of a minute), allocates ``N``
assignments (the returning workers, spread over links ``bench-001`` … ``bench-N_LINKS``) and
writes their request bodies and assignment tokens to ``OUT.json``.
Uses only functions that main had at dd32cc8, so that a before/after comparison prepares both
sides alike.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import time
from pathlib import Path


def main() -> None:
    """Prepare one server's store (see the module docstring)."""
    from kernel.assignments import allocate
    from kernel.store.connect import client_from_url
    from kernel.store.fastredis import connect
    from kernel.tokens import make_token
    from studies.loader import load_experiment

    url, exp_dir, secret, tag, n, n_links, out = sys.argv[1:8]
    n, n_links, key = int(n), int(n_links), secret.encode()
    r = client_from_url(url)
    r.flushdb()
    snapshot = Path(out).with_name("loaded.snapshot")
    if snapshot.exists():  # the experiment as loaded the first time: restored, not loaded again (minutes)
        saved = pickle.loads(snapshot.read_bytes())
        for start in range(0, len(saved), 500):
            pipe = r.pipeline(transaction=False)
            for name, dumped in saved[start:start + 500]:
                pipe.restore(name, 0, dumped)
            pipe.execute()
    else:
        load_experiment(r, Path(exp_dir))
        names = list(r.scan_iter(count=1000))
        snapshot.write_bytes(pickle.dumps([(name, r.dump(name)) for name in names]))

    async def allocate_many():
        ar = await connect(url)
        found = []
        for start in range(0, n, 100):
            found.extend(await asyncio.gather(*(
                allocate(ar, f"bench-{(i % n_links) + 1:03d}", f"{tag}RW{i}", f"{tag}RA{i}", "H1", cap=4,
                         allotted_ms=3_600_000) for i in range(start, min(start + 100, n)))))
        await ar.aclose()
        return found

    allocations = asyncio.run(allocate_many())
    for _ in range(600):  # let an AOF rewrite triggered by the load finish: it forks and would skew a run
        info = r.info("persistence")
        nodes = info.values() if "aof_enabled" not in info else [info]  # RedisCluster: one dict per node
        if not any(n.get("aof_rewrite_in_progress") or n.get("aof_rewrite_scheduled") for n in nodes):
            break
        time.sleep(0.1)
    r.close()
    Path(out).write_text(json.dumps({
        "returning": [json.dumps({"link": a.link_id, "worker_id": a.worker_id, "assignment_id": a.assignment_id,
                                  "hit_id": "H1"}, separators=(",", ":")) for a in allocations],
        "tokens": [make_token(key, a.assignment_id, a.link_id, a.worker_id, a.list_index) for a in allocations],
    }))


if __name__ == "__main__":
    main()
