"""Commands that only read a store (export, analyze, replace) never create one, and `mvt load`
refuses a new store no running server would see. Real `mvt` processes; TMPDIR isolates the
machine's list of running servers (`kernel.store.redis_server.running_servers`) from other runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulation.stack import ServerProcess

NONE_RUNNING = ("no mvt server is running on this machine; set MVT_DATA_DIR to the folder `mvt serve` used "
                "(default ./mvt-data where it was started) or MVT_REDIS_URL to its Redis")


def mvt(args: list[str], data_dir: Path, tmp: Path, redis_url: str | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``mvt ARGS`` with the embedded Redis of ``data_dir`` (or ``redis_url``) and TMPDIR ``tmp``."""
    env = {k: v for k, v in os.environ.items() if k != "MVT_REDIS_URL"}
    env.update(MVT_DATA_DIR=str(data_dir), TMPDIR=str(tmp), **({"MVT_REDIS_URL": redis_url} if redis_url else {}))
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True,
                          timeout=90, cwd=cwd)


@pytest.fixture
def machine(tmp_path) -> Path:
    """A TMPDIR of its own: no server of another test run is listed."""
    (tmp_path / "tmp").mkdir()
    return tmp_path / "tmp"


@pytest.mark.parametrize("command", [["export", "out.csv"], ["analyze", "--out", "results"], ["replace", "A1"],
                                     ["drop", "pilot"]])
def test_a_reading_command_in_a_folder_without_a_store_creates_none(tmp_path, machine, command):
    data = tmp_path / "mvt-data"
    result = mvt(command, data, machine, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"error: no store in {data} (MVT_DATA_DIR), and this command creates none; "
                             f"{NONE_RUNNING}\n")
    assert not data.exists() and not (tmp_path / "out.csv").exists()


def test_export_of_an_empty_store_refuses_instead_of_writing_nothing(tmp_path, machine, redis_url, redis):
    result = mvt(["export", str(tmp_path / "out.csv")], tmp_path / "unused", machine, redis_url=redis_url)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines()[1:] == [
        f"error: this store holds no experiment (load one with mvt load EXP_DIR); {NONE_RUNNING}"]
    assert not (tmp_path / "out.csv").exists()


def test_export_into_a_missing_folder_is_one_line(tmp_path, machine, redis_url, redis, synthetic_experiment):
    from studies.loader import load_experiment

    load_experiment(redis, synthetic_experiment)
    result = mvt(["export", "nodir/x.csv"], tmp_path / "unused", machine, redis_url=redis_url, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: cannot write nodir/x.csv: the folder nodir does not exist\n"
    folder = mvt(["export", str(tmp_path)], tmp_path / "unused", machine, redis_url=redis_url)
    assert folder.stderr == f"error: cannot write {tmp_path}: it is a folder; name a file, e.g. " \
                            f"{tmp_path / 'responses.csv'}\n"
    written = mvt(["export", "x.csv"], tmp_path / "unused", machine, redis_url=redis_url, cwd=tmp_path)
    assert (written.returncode, written.stdout) == (0, "wrote 0 responses to x.csv\n")


@pytest.mark.slow
def test_reads_elsewhere_name_the_running_servers_store_and_load_refuses_a_new_one(
        tmp_path, machine, synthetic_experiment):
    served = tmp_path / "served"
    server = ServerProcess(served, None, workers=1, env={"TMPDIR": str(machine)}).start()
    try:
        pointer = (f"stores of the servers running on this machine: MVT_DATA_DIR={served.resolve()} "
                   f"(mvt serve at https://127.0.0.1:{server.port}, pid {server.proc.pid})")
        elsewhere = tmp_path / "elsewhere"
        exported = mvt(["export", "out.csv"], elsewhere, machine, cwd=tmp_path)
        assert exported.returncode == 1
        assert exported.stderr == (f"error: no store in {elsewhere} (MVT_DATA_DIR), and this command creates "
                                   f"none; {pointer}\n")
        loaded = mvt(["load", str(synthetic_experiment)], elsewhere, machine)
        assert (loaded.returncode, loaded.stdout) == (1, "")
        assert loaded.stderr == (f"error: no store in {elsewhere} (MVT_DATA_DIR) yet, and no server running on "
                                 f"this machine would see an experiment loaded into a new one; {pointer}; "
                                 "or add --new-store to create one here anyway\n")
        assert not elsewhere.exists()
        forced = mvt(["load", str(synthetic_experiment), "--new-store"], elsewhere, machine)
        assert forced.returncode == 0, forced.stderr
        into_served = mvt(["load", str(synthetic_experiment)], served, machine)
        assert into_served.returncode == 0, into_served.stderr
        exported = mvt(["export", "out.csv"], served, machine, cwd=tmp_path)
        assert (exported.returncode, exported.stdout) == (0, "wrote 0 responses to out.csv\n"), exported.stderr
    finally:
        server.stop()


@pytest.mark.parametrize("command", [["prolific", "submissions", "--study-id", "S1"],
                                     ["mturk", "assignments", "--hit-id", "H1"]])
def test_a_platform_command_in_a_folder_without_a_store_creates_none(tmp_path, machine, command):
    data = tmp_path / "mvt-data"
    result = mvt(command, data, machine, cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 1   # which platform it would talk to
    assert result.stderr == (f"error: no store in {data} (MVT_DATA_DIR), and this command creates none; "
                             f"{NONE_RUNNING}\n")
    assert not data.exists()
