"""Refusal sentences (kernel/reasons.py): one source, served to the runner, copied into the landing layout."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kernel import errors
from kernel.reasons import FALLBACK_SENTENCE, WORKER_SENTENCES
from platforms.mturk import landing as reasons
from platforms.mturk.landing import BEGIN, END

REFUSALS = ["blocked", "seen_link", "cap_reached", "link_full", "unknown_link", "expired", "replaced",
            "wrong_worker", "preview", "bad_token", "rate_limited", "other_tab"]


def error_reasons() -> set[str]:
    found, todo = set(), [errors.MVTError]
    while todo:
        cls = todo.pop()
        found.add(cls.reason)
        todo.extend(cls.__subclasses__())
    return found


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
