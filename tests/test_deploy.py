"""The deployment files are consistent with the code (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from kernel.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def test_every_setting_is_documented_in_env_example():
    documented = set(re.findall(r"^#?\s*(MVT_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    expected = {f"MVT_{name.upper()}" for name in Settings.model_fields}
    assert expected == documented


def test_every_setting_has_a_comment_in_env_example_and_a_row_in_the_interfaces():
    lines = (ROOT / ".env.example").read_text().splitlines()
    table = (ROOT / "docs" / "interfaces.md").read_text()
    for name in Settings.model_fields:
        var = f"MVT_{name.upper()}"
        at = next(i for i, line in enumerate(lines) if re.match(rf"^#?\s*{var}=", line))
        while at > 0 and re.match(r"^#?\s*MVT_[A-Z_]+=", lines[at - 1]):   # a block of examples shares one comment
            at -= 1
        assert at > 0 and lines[at - 1].startswith("# "), f"{var} has no comment above it in .env.example"
        assert f"| `{var}` |" in table, f"{var} has no row in docs/interfaces.md's settings table"


def test_dockerfile_runs_mvt_serve_as_non_root_with_a_healthcheck():
    rows = dockerfile_instructions()
    words = [w for w, _ in rows]
    assert words[0] == "FROM" and "HEALTHCHECK" in words
    user = [rest for w, rest in rows if w == "USER"]
    assert user and user[-1] not in ("root", "0")
    entrypoint = json.loads([rest for w, rest in rows if w == "ENTRYPOINT"][-1])
    cmd = json.loads([rest for w, rest in rows if w == "CMD"][-1])
    assert entrypoint == ["mvt"] and cmd[0] == "serve"
    for word, rest in rows:
        if word == "COPY":
            *sources, _dest = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repo"


def test_container_command_options_are_accepted_by_the_real_cli():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    cmd = json.loads([rest for w, rest in dockerfile_instructions() if w == "CMD"][-1])
    help_text = subprocess.run([sys.executable, "-m", "cli", "serve", "--help"],
                               capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""})
    assert help_text.returncode == 0, help_text.stderr
    for command in (cmd, compose["services"]["server"]["command"]):
        assert command[0] == "serve"
        for option in (a for a in command if a.startswith("--")):
            assert option in help_text.stdout, f"{option} is not an option of mvt serve"


def test_compose_has_a_server_on_a_redis_with_aof():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis, server = compose["services"]["redis"], compose["services"]["server"]
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert server["environment"]["MVT_REDIS_URL"].startswith("redis://redis:")
    assert server["depends_on"]["redis"]["condition"] == "service_healthy"
    named = {v.split(":")[0] for v in server["volumes"] + redis["volumes"]}
    assert {"redis-data", "server-data"} <= named <= set(compose["volumes"]) | {"./experiments"}


def test_the_image_healthcheck_command_passes_against_a_running_server(synthetic_server):
    rows = dockerfile_instructions()
    check = [rest for w, rest in rows if w == "HEALTHCHECK"][-1]
    argv = shlex.split(check.split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"] and "https://127.0.0.1:8443/healthz" in argv[2]
    port = synthetic_server.base_url.rsplit(":", 1)[1]
    code = argv[2].replace("127.0.0.1:8443", f"127.0.0.1:{port}")
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0
    # and it fails when nothing listens there
    dead = argv[2].replace("127.0.0.1:8443", "127.0.0.1:9")
    assert subprocess.run([sys.executable, "-c", dead], capture_output=True, timeout=30).returncode != 0
