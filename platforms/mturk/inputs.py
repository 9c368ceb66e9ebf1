"""Input files of the MTurk commands: links to publish and reposts (amounts and id files: `platforms.inputs`)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from kernel.csvsafe import restore
from kernel.store import keys
from kernel.errors import MTurkBadInput
from platforms.inputs import read_column


@dataclass(frozen=True)
class HITLink:
    """One experiment link to publish as a HIT."""

    link_id: str
    url: str
    max_assignments: int


def link_id_of(url: str) -> str:
    """The ``link`` query parameter of an experiment URL from links.csv."""
    values = parse_qs(urlsplit(url).query).get("link")
    if not values:
        raise MTurkBadInput(f"experiment URL ({url!r}) has no ?link= parameter")
    return values[0]


def read_links(source: Path, max_assignments: int | None = None) -> list[HITLink]:
    """The links to publish, from an experiment folder, its design.json, or a links.csv.

    With design.json each HIT gets W x D assignments (the number of lists of its link). A
    links.csv does not say that, so ``max_assignments`` is then required.
    """
    source = Path(source)
    if source.is_dir():
        source = source / "design.json"
    if not source.exists():
        raise MTurkBadInput(f"{source} does not exist; give an experiment folder, its "
                            "design.json, or a links.csv")
    if source.suffix == ".json":
        design = json.loads(source.read_text())
        base = design["base_url"].rstrip("/")
        links = []
        for link in design["links"]:
            n_lists = len(link.get("lists", [])) or design["workers"] * len(design["frame_counts"])
            links.append(HITLink(link["link_id"], f"{base}/experiment.html?link={link['link_id']}",
                                 max_assignments or n_lists))
        return links
    if max_assignments is None:
        raise MTurkBadInput(f"{source} does not say how many assignments each HIT needs: pass "
                            "--max-assignments (workers x durations) or give design.json")
    return [HITLink(link_id_of(url), url, max_assignments) for url in read_column(source, "HIT_Link")]


def read_repost(path: Path, r, env: str) -> dict[str, int]:
    """HIT id → additional assignments, from analysis's repost.csv.

    Columns ``HIT_Link`` (an experiment URL or a link id), ``n_assignments`` (or ``count``) and
    optionally ``link_id``.
    """
    link_hits = r.hgetall(keys.mturk_link_hits(env))
    wanted: dict[str, int] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or [])
        count_column = "n_assignments" if "n_assignments" in columns else "count"
        if not {"HIT_Link", count_column} <= columns:
            raise MTurkBadInput(f"{path} must have the columns HIT_Link,n_assignments "
                                f"(it has {reader.fieldnames})")
        for row in reader:
            url = restore(row["HIT_Link"].strip())
            link_id = restore((row.get("link_id") or "").strip()) or (link_id_of(url) if "?" in url else url)
            try:
                count = int(row[count_column])
            except ValueError:
                raise MTurkBadInput(f"{path}: {count_column} ({row[count_column]!r}) for link "
                                    f"{link_id} must be a whole number") from None
            if count <= 0:
                continue
            if link_id not in link_hits:
                raise MTurkBadInput(f"{path}: link {link_id} has no HIT recorded in the {env} "
                                    "(create it with `mvt mturk create-hits`, or use --hit-id)")
            wanted[link_hits[link_id]] = wanted.get(link_hits[link_id], 0) + count
    return wanted
