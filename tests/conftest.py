"""Test fixtures: real services, started by the tests (see docs/contracts.md)."""

import os
import tempfile

import pytest

pytest_plugins = ["tests.fixtures.redis", "tests.fixtures.experiment", "tests.fixtures.server", "tests.fixtures.ratings"]


@pytest.fixture(scope="session", autouse=True)
def _a_machine_of_its_own(tmp_path_factory):
    """Each test process keeps its temporary files, and so its notes of running servers, apart.

    `mvt load` refuses a new store while servers on this machine use others (they note
    themselves in the temporary folder, kernel.store.redis_server.running_servers); test
    processes running side by side (scripts/test) or a developer's own `mvt serve` must not
    decide that for each other. Servers the tests start inherit TMPDIR.
    """
    folder = tmp_path_factory.mktemp("tmp")
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None
    yield
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None
