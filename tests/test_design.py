"""Design invariants: disjoint class-balanced sets, Latin-square lists (property tests)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stimuli.design import image_sets, latin_square_lists

class_sizes = st.lists(st.integers(1, 12), min_size=1, max_size=6)
frame_counts = st.lists(st.integers(1, 600), min_size=1, max_size=7, unique=True)


def make_labels(sizes: list[int]) -> dict[str, str]:
    return {f"c{c}_{i}": f"c{c}" for c, n in enumerate(sizes) for i in range(n)}


@settings(max_examples=200, deadline=None)
@given(sizes=class_sizes, per_task=st.integers(1, 30), seed=st.integers(0, 2**32))
@example(sizes=[1, 10, 1, 1], per_task=4, seed=2942589120)  # the one-image classes used to share a set
def test_sets_are_disjoint_cover_everything_and_are_class_balanced(sizes, per_task, seed):
    labels = make_labels(sizes)
    sets = image_sets(labels, per_task, rng=seed)
    flat = [i for s in sets for i in s]
    assert sorted(flat) == sorted(labels)
    assert all(len(s) == per_task for s in sets[:-1]) and 1 <= len(sets[-1]) <= per_task
    n = len(labels)
    for s in sets:
        counts = Counter(labels[i] for i in s)
        for c, size in enumerate(sizes):
            # Each class's share of every set is its share of the folder, within two images.
            share = len(s) * size / n
            assert abs(counts[f"c{c}"] - share) < 2
        if len(set(sizes)) == 1 and len(s) == per_task:
            in_set = [counts[f"c{c}"] for c in range(len(sizes))]
            assert max(in_set) - min(in_set) <= 1


@settings(max_examples=200, deadline=None)
@given(n_images=st.integers(1, 25), counts=frame_counts, workers=st.integers(1, 5),
       seed=st.integers(0, 2**32))
def test_latin_square_lists_balance_durations(n_images, counts, workers, seed):
    ids = [f"img{i}" for i in range(n_images)]
    labels = {i: "x" for i in ids}
    lists = latin_square_lists(ids, labels, counts, workers, rng=seed)
    assert len(lists) == workers * len(counts)
    for trials in lists:
        assert sorted(t.image_id for t in trials) == sorted(ids)
        per_duration = Counter(t.frames for t in trials)
        spread = [per_duration[f] for f in counts]
        assert max(spread) - min(spread) <= 1
    seen = Counter((t.image_id, t.frames) for trials in lists for t in trials)
    assert seen == {(i, f): workers for i in ids for f in counts}


def test_lists_are_shuffled_and_reproducible():
    ids = [f"img{i}" for i in range(20)]
    labels = {i: "x" for i in ids}
    first = latin_square_lists(ids, labels, [1, 3, 6], 2, rng=4)
    assert first == latin_square_lists(ids, labels, [1, 3, 6], 2, rng=4)
    assert first != latin_square_lists(ids, labels, [1, 3, 6], 2, rng=5)
    assert any([t.image_id for t in trials] != sorted(ids, key=lambda s: int(s[3:])) for trials in first)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: image_sets({"a": "x"}, 0), r"images_per_task \(0\) must be at least 1"),
    (lambda: image_sets({}, 3), r"there are no images"),
    (lambda: latin_square_lists(["a"], {"a": "x"}, [1], 0), r"workers \(0\) must be at least 1"),
    (lambda: latin_square_lists(["a"], {"a": "x"}, [], 1), r"frame_counts is empty"),
])
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_small_experiment_design(small_experiment):
    design = json.loads((small_experiment / "design.json").read_text())
    stimuli = json.loads((small_experiment / "stimuli.json").read_text())
    assert design["classes"] == ["circle", "square", "star", "triangle"]
    assert [link["link_id"] for link in design["links"]] == ["small-001", "small-002"]
    all_ids = [i for link in design["links"] for i in link["image_ids"]]
    assert sorted(all_ids) == sorted(stimuli["images"])
    for link in design["links"]:
        assert Counter(stimuli["images"][i]["label"] for i in link["image_ids"]) == {
            "circle": 2, "square": 2, "star": 2, "triangle": 2}
        assert len(link["lists"]) == 2 * 4
        seen = Counter()
        for trials in link["lists"]:
            assert sorted(t["image_id"] for t in trials) == sorted(link["image_ids"])
            assert Counter(t["frames"] for t in trials) == {1: 2, 3: 2, 6: 2, 30: 2}
            for t in trials:
                video = stimuli["videos"][t["video_id"]]
                assert (video["image_id"], video["label"], video["frames"]) == (
                    t["image_id"], t["label"], t["frames"])
                seen[t["image_id"], t["frames"]] += 1
        assert set(seen.values()) == {2}
