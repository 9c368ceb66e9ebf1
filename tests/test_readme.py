"""Every command the README shows, run as a researcher types it.

The README's ```bash blocks are run in order, in one temporary folder with its own embedded Redis
(``MVT_DATA_DIR``), as one walk-through: its ```toml block is saved as ``study.toml``, ``mvt serve``
is started as a real process (on a free port, stopped with Ctrl-C at the end) and the commands
after it use its store, as a second terminal would. ``images/`` holds 4 of the bundled pictures
(2 classes). Only values change (``SUBSTITUTIONS``, and this server for ``HOST``); every option
is the README's.
``mvt mturk`` runs in its documented dry-run form (``--commit`` removed: no AWS account here);
``mvt prolific`` runs as shown, ``--commit`` included, against the local fake of Prolific's API.
``scripts/demo`` and ``scripts/test`` are not run here (the second is this suite; the first serves
until Ctrl-C and ``tests/test_serve.py`` runs ``mvt demo``): they must exist and be executable.

Each command must exit 0 and print its key line (``KEY_LINES``); a command the README shows that
has no key line here fails the test, so a new command gets a check. Commands shown inline (`mvt …`
in backticks) are parsed by the CLI without running, so their command and option names exist.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import cli
from tests.fixtures.prolific_fake import prolific_fake  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

SUBSTITUTIONS = {"--images-per-task 50": "--images-per-task 4"}  # images/: 4 bundled images, one link
"""README value -> the value used here; each must occur in the README (checked)."""

KEY_LINES = [
    ("mvt samples samples", r"copied 16 images to samples/images and the rating samples to samples/ratings"),
    ("mvt build-ratings", r"16 audio samples .* 4 links x 5 lists"),
    ("mvt build", r"24 videos for 4 images .* 1 links in exp1/links.csv"),
    ("mvt load exp1", r"experiment exp1: 1 links, 42 lists; 1 loaded"),
    ("mvt load mos1", r"experiment mos1: 4 links, 20 lists; 4 loaded"),
    ("mvt simulate", r'"completed_assignments": 20'),
    ("mvt status exp1", r"exp1 +mvt +open +42 +22 +0 +20 "),
    ("mvt analyze --out results", r"80 responses, \d+ used; 20 workers, \d+ flagged; 4 images: "),
    ("mvt analyze --out mos-results", r"20 workers(.|\n)*per algorithm: REF"),
    ("mvt export", r"wrote 80 responses to responses.csv"),
    ("mvt drop exp1 --commit", r"removed experiment exp1"),
    ("mvt drop exp1", r"would remove experiment exp1: 1 links, 42 lists, 20 assignments"),
    ("mvt mturk create-hits", r"MTurk SANDBOX(.|\n)*Dry run: 1 to do"),
    ("mvt prolific create-study .*--commit", r"done  create draft study .* 42 places at 1.50"),
    ("mvt prolific create-study", r"Draft study .* 42 places at 1.50 each(.|\n)*Dry run: 1 to do"),
    ("mvt prolific publish", r"done  publish study"),
    ("mvt prolific submissions", r"done  study \w+: 0 submissions"),
    ("mvt prolific review", r"Dry run: 0 to do"),
]
"""(a regular expression matching the command line, one its output must match); the first match counts."""


def shell_blocks(text: str, language: str = "bash") -> list[str]:
    """The contents of the README's fenced blocks of ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def commands(block: str) -> list[list[str]]:
    """A block's commands as argument lists: continuations joined, comments dropped, ``&&`` split."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            found.append(words[:cut])
            words = words[cut + 1:]
    return found


def inline_commands(text: str) -> list[list[str]]:
    """`mvt …` written in backticks outside the fenced blocks (placeholders such as `…` excluded)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return [shlex.split(span) for span in re.findall(r"`(mvt [^`…]*)`", prose)]


def substituted(words: list[str], base_url: str) -> list[str]:
    line = " ".join(shlex.quote(w) for w in words)
    for old, new in SUBSTITUTIONS.items():
        line = line.replace(old, new)
    return shlex.split(line.replace("https://HOST:8443", base_url))


def key_line(words: list[str]) -> str:
    line = " ".join(words)
    for command, pattern in KEY_LINES:
        if re.match(command, line):
            return pattern
    raise AssertionError(f"the README shows `{line}` but tests/test_readme.py has no key line for it (KEY_LINES)")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_error(words: list[str]) -> str | None:
    """Why the CLI refuses ``mvt ARGS --help`` (an unknown command or option), or None.

    ``--help`` is handled after every argument is parsed and before any runs, so the command is
    parsed as written and nothing is done.
    """
    result = CliRunner().invoke(cli, [*words[1:], "--help"])
    return None if result.exit_code == 0 else f"{' '.join(words)}: {result.output.strip().splitlines()[-1]}"


def test_every_inline_command_parses():
    """`mvt …` in the prose names a command and options that exist (parsed, not run)."""
    assert [error for words in inline_commands(README) if (error := parse_error(words))] == []


def test_a_misspelt_command_or_option_is_caught():
    assert "stauts" in parse_error(["mvt", "stauts"])
    assert "--wtach" in parse_error(["mvt", "status", "--wtach"])
    assert "--wrokers" in parse_error(["mvt", "mturk", "review", "--wrokers", "x"])
    assert parse_error(["mvt", "mturk", "review", "--workers", "x"]) is None


def test_the_substitutions_and_scripts_are_the_readmes():
    for old in SUBSTITUTIONS:
        assert old in README, f"{old!r} is no longer in the README: update SUBSTITUTIONS"
    scripts = [words[0] for block in shell_blocks(README) for words in commands(block) if words[0].startswith("scripts/")]
    assert scripts == ["scripts/demo", "scripts/test"]
    for script in scripts:
        assert os.access(ROOT / script, os.X_OK), script


@pytest.mark.slow
def test_every_shell_block_of_the_readme_runs(tmp_path, monkeypatch, prolific_fake):  # noqa: F811
    port = free_port()
    base_url = f"https://127.0.0.1:{port}"
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("MVT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MVT_DATA_DIR", str(tmp_path / "mvt-data"))
    # As on a machine of its own: the servers other tests (or people) run here note themselves in the
    # temporary folder, and `mvt load` would refuse a new store while they run.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("MVT_ADMIN_TOKEN", "readme-admin-token-0123456789")
    (tmp_path / "study.toml").write_text(shell_blocks(README, "toml")[0])
    for image in ("circle/circle_1.png", "circle/circle_2.png", "square/square_1.png", "square/square_2.png"):
        (tmp_path / "images" / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "stimuli" / "samples" / image, tmp_path / "images" / image)
    server = None
    ran = []
    try:
        for block in shell_blocks(README):
            for words in commands(block):
                if words[0].startswith("scripts/"):
                    continue
                assert words[0] == "mvt", f"the README shows `{' '.join(words)}`; only mvt and scripts/ are run here"
                args = substituted(words, base_url)[1:]
                if args[0] == "serve":
                    server = subprocess.Popen([sys.executable, "-m", "cli", *args, "--port", str(port)],
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                              start_new_session=True)
                    wait_until_serving(server, port)
                    ran.append(" ".join(words))
                    continue
                if args[0] == "mturk" and "--commit" in args:
                    args.remove("--commit")
                result = CliRunner().invoke(cli, args)
                ran.append(" ".join(words))
                assert result.exit_code == 0, f"`{' '.join(words)}` exited {result.exit_code}:\n{result.output}"
                assert re.search(key_line(words), result.output), f"`{' '.join(words)}` printed:\n{result.output}"
        assert server is not None, "the README no longer shows mvt serve"
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0, server.stdout.read()
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert len(ran) >= 15
    reading = README.split("## Reading the results")[1].split("\n## ")[0]
    for folder in ("results", "mos-results"):  # the MVT study's analysis and the rating study's
        unnamed = sorted(f.name for f in (tmp_path / folder).iterdir() if f"`{f.name}`" not in reading)
        assert unnamed == [], f"mvt analyze wrote {unnamed} into {folder}/: 'Reading the results' does not name them"


def wait_until_serving(server: subprocess.Popen, port: int) -> None:
    """Until the server answers /healthz (60 s at most: a slow, busy machine); its output if it stopped."""
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, f"mvt serve exited {server.returncode}:\n{server.stdout.read()}"
        try:
            if httpx.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("mvt serve did not answer /healthz within 60 s")
