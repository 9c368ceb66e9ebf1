"""`mvt load`'s library function against a real Redis."""

import json

import pytest

from kernel.store import keys
from kernel.errors import BadExperiment
from studies.loader import listing, load_experiment
from tests.fixtures.server import write_experiment

pytestmark = pytest.mark.both_stores


def test_load_puts_every_link_and_list_into_redis(redis, tmp_path):
    exp = write_experiment(tmp_path / "e", n_links=3, n_lists=5, n_trials=4)
    result = load_experiment(redis, exp)
    assert result.summary() == "experiment synth: 3 links, 15 lists; 3 loaded, 0 already loaded"
    assert redis.smembers(keys.links_index()) == {"synth-001", "synth-002", "synth-003"}
    assert redis.lrange(keys.link_free("synth-002"), 0, -1) == ["0", "1", "2", "3", "4"]
    meta = redis.hgetall(keys.link_meta("synth-001"))
    assert (meta["n_lists"], meta["n_trials"], json.loads(meta["options"])) == ("5", "4", ["cat", "dog"])
    assert len(json.loads(redis.hget(keys.link_lists("synth-001"), "0"))) == 4
    label, frames, image_id, video_id, fixation, mask, shown_px, max_rescale = json.loads(
        redis.hget(keys.link_answers("synth-001"), "0:1"))
    assert (label, image_id, fixation, mask, shown_px, max_rescale) == ("dog", "img1_1", 30, 30, 128, 1.5)


def test_loading_twice_changes_nothing(redis, tmp_path):
    exp = write_experiment(tmp_path / "e")
    load_experiment(redis, exp)
    redis.lpop(keys.link_free("synth-001"))
    result = load_experiment(redis, exp)
    assert result.loaded == () and result.unchanged == ("synth-001", "synth-002")
    assert redis.llen(keys.link_free("synth-001")) == 3


def test_changed_design_with_assignments_is_refused(redis, tmp_path):
    load_experiment(redis, write_experiment(tmp_path / "e"))
    redis.hset(keys.link_assignments("synth-001"), "A1", "{}")
    with pytest.raises(BadExperiment, match=r"link synth-001 is already loaded with a different design and has 1 assignments"):
        load_experiment(redis, write_experiment(tmp_path / "e", n_trials=5))


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "design.json").unlink(), r"design.json is missing; build the experiment first"),
    (lambda d: (d / "stimuli.json").write_text("{"), r"stimuli.json is not valid JSON"),
    (lambda d: next((d / "videos").iterdir()).unlink(), r"video file .*\.mp4 is missing"),
])
def test_broken_experiments_are_refused_with_a_sentence(redis, tmp_path, damage, message):
    exp = write_experiment(tmp_path / "e")
    damage(exp)
    with pytest.raises(BadExperiment, match=message):
        load_experiment(redis, exp)


@pytest.mark.parametrize("read", [load_experiment, lambda redis, exp: listing(exp)], ids=["load", "listing"])
def test_an_unknown_study_kind_is_refused_naming_the_folder(redis, tmp_path, read):
    exp = write_experiment(tmp_path / "e")
    design = json.loads((exp / "design.json").read_text())
    (exp / "design.json").write_text(json.dumps({**design, "kind": "nonsense"}))
    with pytest.raises(BadExperiment, match=r"^design.json of \S+/e: study kind 'nonsense' is not one of \["):
        read(redis, exp)
