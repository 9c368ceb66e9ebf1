"""The table of refusal reasons (kernel/reasons.py): every reason a script can return, one sentence per
platform's words, served to the runner and copied into the landing layout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernel import errors
from kernel.reasons import FALLBACK_SENTENCE, REASONS, refusal, worker_sentences
from platforms import PLATFORMS
from platforms.mturk import landing as reasons
from platforms.mturk.landing import BEGIN, END

REFUSALS = ["blocked", "seen_link", "cap_reached", "link_full", "unknown_link", "expired", "replaced",
            "wrong_worker", "preview", "bad_token", "rate_limited", "other_tab", "paused"]


def error_reasons() -> set[str]:
    found, todo = set(), [errors.MVTError]
    while todo:
        cls = todo.pop()
        found.add(cls.reason)
        todo.extend(cls.__subclasses__())
    return found


WORKER_SENTENCES = worker_sentences()
LUA = Path(__file__).resolve().parent.parent / "kernel" / "store" / "lua"


def test_every_reason_a_lua_script_returns_is_in_the_table():
    returned = set()
    for script in LUA.glob("*.lua"):
        text = script.read_text()
        returned |= set(re.findall(r"\{'refused', '(\w+)'", text))
        if re.search(r"\{'refused', rec\.status", text):  # only after checking for these two
            returned |= {"expired", "replaced"}
    assert returned and returned <= set(REASONS), sorted(returned - set(REASONS))
    for word in returned:
        assert isinstance(refusal(word, link="L1", worker="W1", assignment="A1", cap=3, trial=2, response="x",
                                  n_done=1, n_trials=4), REASONS[word].error)
    for word, reason in REASONS.items():
        assert reason.status_code == reason.error.status_code and word in (reason.error.reason, reason.script_word)


def test_a_detail_names_the_values_it_has():
    exc = refusal("cap_reached", worker="W9", cap=3, link="L1")
    assert (str(exc), exc.status_code) == ("worker W9 has already done the maximum of 3 tasks of this experiment", 409)
    assert str(refusal("incomplete", n_done=2)) == "only 2 of ? trials are recorded; finish every trial first"


@pytest.mark.parametrize("name", ["mturk", "prolific", "panel"])
def test_each_platform_reads_its_own_words(name):
    sentences = worker_sentences(PLATFORMS[name].words)
    assert sorted(sentences) == sorted(REFUSALS)
    assert f"your {PLATFORMS[name].words['participant_id']} cannot" in sentences["blocked"]
    if name != "mturk":
        assert "worker ID" not in " ".join(sentences.values())


def test_every_refusal_a_worker_can_meet_has_one_sentence():
    assert sorted(WORKER_SENTENCES) == sorted(REFUSALS)
    assert set(WORKER_SENTENCES) <= error_reasons()
    for sentence in [*WORKER_SENTENCES.values(), FALLBACK_SENTENCE]:
        assert sentence[0].isupper() and sentence.endswith("."), sentence
        assert "${" not in sentence and "<" not in sentence  # MTurk fills ${…}; the layout is HTML


def test_landing_layout_carries_the_generated_copy():
    text = reasons.LANDING_FILE.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert reasons.with_landing_block(text) == text, "run: python -m platforms.mturk.landing --write-landing"


def test_landing_copy_is_rewritten_from_the_python_source():
    stale = reasons.landing_block().replace(WORKER_SENTENCES["blocked"], "Old wording.")
    html = f"<script>\n  var ID = 1;\n  {stale}\n  go();\n</script>"
    fixed = reasons.with_landing_block(html)
    assert "Old wording." not in fixed
    assert f'"blocked": "{WORKER_SENTENCES["blocked"]}", ' in fixed
    assert fixed.startswith("<script>\n  var ID = 1;\n  /* reasons:begin") and fixed.endswith("/* reasons:end */\n  go();\n</script>")


def test_layout_without_markers_is_refused():
    with pytest.raises(ValueError, match="lacks the markers"):
        reasons.with_landing_block("<script>var REASONS = {};</script>")


def test_write_landing_rewrites_a_stale_copy_once(tmp_path, monkeypatch, capsys):
    layout = tmp_path / "landing.html"
    layout.write_text(f"<script>\n  {BEGIN}\n  var REASONS = {{}};\n  {END}\n</script>\n", encoding="utf-8")
    monkeypatch.setattr(reasons, "LANDING_FILE", layout)
    assert reasons.main(["--write-landing"]) == 0
    assert layout.read_text(encoding="utf-8") == f"<script>\n  {reasons.landing_block()}\n</script>\n"
    assert reasons.main(["--write-landing"]) == 0
    assert capsys.readouterr().out == f"{layout}: updated\n{layout}: already up to date\n"


def test_without_option_the_block_is_printed():
    out = subprocess.run([sys.executable, "-m", "platforms.mturk.landing"], capture_output=True, text=True, check=True,
                         cwd=reasons.LANDING_FILE.parent.parent)
    assert out.stdout == reasons.landing_block() + "\n"
