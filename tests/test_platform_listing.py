"""What a study is listed under on MTurk and Prolific: the title and description its worker page shows."""

from __future__ import annotations

import json

import pytest

from platforms.base import DEFAULT_LISTING
from studies.loader import Listing, listing
from tests.fixtures.mturk import stubbed_client  # noqa: F401
from tests.fixtures.prolific import prolific, prolific_fake, write_design  # noqa: F401
from tests.test_mturk_cli import mturk  # noqa: F401

TITLE = 'Seeing in a flash <b>& "quotes"'


def write_folder(folder, study: dict | None, kind: str | None = None):
    write_design(folder)
    if kind:
        design = json.loads((folder / "design.json").read_text())
        (folder / "design.json").write_text(json.dumps({**design, "kind": kind, "study": study or {}}))
    elif study is not None:
        (folder / "study.json").write_text(json.dumps(study))
    return folder


@pytest.mark.parametrize("study, kind, title, description", [
    ({"title": TITLE, "description": "Name what you saw."}, None, TITLE, "Name what you saw."),
    ({"title": "  ", "description": 7}, None, None, None),
    (None, "ratings", "Rate the quality of short samples",
     "Listen to or look at short samples and rate the quality of each one. Needs a desktop browser."),
    ({"title": "Which sounds better?"}, "ratings", "Which sounds better?",
     "Listen to or look at short samples and rate the quality of each one. Needs a desktop browser."),
])
def test_listing_is_what_the_worker_page_shows(tmp_path, study, kind, title, description):
    folder = write_folder(tmp_path / "exp1", study, kind)
    for source in (folder, folder / "design.json", folder / "links.csv"):
        assert listing(source) == Listing(title, description)


def test_create_hits_and_create_study_list_the_study_files_title_unless_told_otherwise(mturk, prolific, tmp_path):
    folder = write_folder(tmp_path / "exp1", {"title": TITLE, "description": "Name what you saw."})
    hits = mturk("create-hits", str(folder), "--reward", "1.00")
    assert hits.exit_code == 0, hits.output
    assert f"Each HIT: {TITLE!r}, $1.00 per assignment" in hits.stdout
    told = mturk("create-hits", str(folder), "--reward", "1.00", "--title", "Quick pictures")
    assert "Each HIT: 'Quick pictures', $1.00" in told.stdout
    study = prolific("create-study", str(folder), "--reward", "1.50", "--minutes", "12", "--commit")
    assert study.exit_code == 0, study.output
    (created,) = prolific.fake.studies.values()
    assert (created["name"], created["description"]) == (TITLE, "Name what you saw.")
    (tmp_path / "exp1" / "study.json").write_text(json.dumps({"title": " "}))
    plain = mturk("create-hits", str(folder), "--reward", "1.00")
    assert f"Each HIT: {DEFAULT_LISTING[0]!r}, $1.00 per assignment" in plain.stdout
