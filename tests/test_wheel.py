"""The wheel carries everything a worker's browser needs: installed from it, the server serves
the runner page, its scripts and the landing preview (not only from a source checkout)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.fixtures.redis import free_port
from tests.test_serve import stop, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("mvt_server-*.whl"))


def test_wheel_holds_runner_templates_landing_lua_and_every_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    static = {p.relative_to(ROOT / "static").as_posix() for p in (ROOT / "static").rglob("*") if p.is_file()}
    assert {f"app/_assets/static/{name}" for name in static} <= names
    assert "platforms/mturk/_landing/landing.html" in names
    assert {"app/templates/experiment.html", "kernel/store/lua/allocate.lua", "studies/mvt.py",
            "platforms/mturk/commands.py", "simulation/workers.py", "stimuli/samples/circle/circle_1.png"} <= names


def test_installed_wheel_serves_the_worker_page_its_scripts_and_the_landing(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    # PYTHONPATH puts the installed copy before the source checkout (on the path as an editable install).
    env = {**os.environ, "PYTHONPATH": str(target), "MVT_DATA_DIR": str(tmp_path / "data")}
    where = subprocess.run([sys.executable, "-c", "import app.assets as a, platforms.mturk.landing as m; print(a.STATIC_DIR, m.LANDING_FILE)"],
                           env=env, cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    assert all(Path(p).is_relative_to(target) for p in where)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"https://127.0.0.1:{port}"
    try:
        assert wait_healthy(f"{base}/healthz", proc).status_code == 200
        page = httpx.get(f"{base}/experiment.html?link=L1&b=A1&c=H1&d=W1", verify=False)
        assert page.status_code == 200
        scripts = re.findall(r'<script[^>]*src="([^"]+)"', page.text)
        assert scripts
        for src in scripts:
            script = httpx.get(f"{base}{src}", verify=False)
            assert (script.status_code, script.headers["content-type"].split(";")[0]) == (200, "text/javascript")
        landing = httpx.get(f"{base}/mturk/landing?link=L1", verify=False)
        assert landing.status_code == 200 and "/experiment.html?link=L1" in landing.text
    finally:
        stop(proc)


def test_installed_wheel_copies_its_bundled_samples_out(wheel, tmp_path):
    """`mvt samples DEST` from an installed wheel: every file the rating inputs name is there to build from."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-m", "cli", "samples", "samples"], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("copied 16 images to samples/images and the rating samples to samples/ratings "
                           "(audio.tsv, images.tsv); the licence is in each folder's LICENSE\n")
    for tsv in ("audio.tsv", "images.tsv"):
        rows = [line.split("\t") for line in (tmp_path / "samples" / "ratings" / tsv).read_text().splitlines()
                if line.strip() and not line.startswith("#")]
        assert rows and all((tmp_path / "samples" / "ratings" / row[2]).is_file() for row in rows)
    assert len(list((tmp_path / "samples" / "images").glob("*/*.png"))) == 16
