"""Admin routes (bearer MVT_ADMIN_TOKEN) and the analyst's CLI commands, on the real server and Redis."""

from __future__ import annotations

import csv
import io
import ssl

import httpx
import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from studies.mvt import MVTKind
from app.main import create_app
from kernel.settings import Settings
from tests.fixtures.server import ADMIN_TOKEN

pytestmark = pytest.mark.both_stores

CONTRACT_HEADER = ("link_id,assignment_id,worker_id,hit_id,trial,image_id,label,frames,duration_ms,response,correct,"
                   "response_time_ms,presented_frames,submitted_at")

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(synthetic_server):
    ctx = ssl.create_default_context(cafile=str(synthetic_server.certfile))
    with httpx.Client(base_url=synthetic_server.base_url, verify=ctx, timeout=10) as c:
        yield c


# A played video whose every frame was seen on time, whatever its image frames (a measured trial).
EVERY_FRAME_TIME = ",".join(f"{i}:{i * 1000 / 60:.1f}" for i in range(101))


def do_task(client, worker, assignment, link="synth-001", complete=True, measured: dict | None = None,
            headers: dict | None = None):
    """Take a list of ``link`` and answer every trial "cat" with ``measured`` (default: every frame on
    time), sending ``headers`` with each answer; complete it unless ``complete`` is False."""
    body = client.post("/api/assignments", json={"link": link, "worker_id": worker, "assignment_id": assignment,
                                                 "hit_id": "H1"}).json()
    measured = {"frame_log": "0-100", "frame_times": EVERY_FRAME_TIME} if measured is None else measured
    for trial in body["trials"]:
        client.post("/api/responses", headers=headers, json={"assignment_token": body["assignment_token"],
                                                             "trial": trial["trial"], "response": "cat", **measured})
    if complete:
        client.post("/api/complete", json={"assignment_token": body["assignment_token"]})
    return body


@pytest.mark.parametrize("headers, status, detail", [
    ({}, 401, "this route needs the header 'Authorization: Bearer <MVT_ADMIN_TOKEN>'"),
    ({"Authorization": "Bearer wrong-token-wrong-token"}, 401, "the bearer token is not MVT_ADMIN_TOKEN"),
    ({"Authorization": "Basic YTpi"}, 401, "this route needs the header 'Authorization: Bearer <MVT_ADMIN_TOKEN>'"),
])
def test_admin_routes_refuse_without_the_token(client, headers, status, detail):
    for method, path in [("GET", "/admin/progress"), ("GET", "/admin/export.csv"), ("POST", "/admin/block")]:
        r = client.request(method, path, headers=headers, json={"worker_ids": ["W1"]})
        assert (r.status_code, r.json()) == (status, {"detail": detail, "reason": "not_authorized"})


def test_admin_routes_are_disabled_without_MVT_ADMIN_TOKEN(redis_url, tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, redis_url=redis_url, admin_token=None)
    with TestClient(create_app(settings)) as c:
        r = c.get("/admin/progress", headers=AUTH)
    assert (r.status_code, r.json()) == (403, {
        "detail": "admin routes are disabled: set MVT_ADMIN_TOKEN (at least 16 characters) and restart the server",
        "reason": "admin_disabled"})


def test_progress_replace_block_and_export(client):
    do_task(client, "W1", "A1")
    do_task(client, "W2", "A2", complete=False)
    r = client.get("/admin/progress", headers=AUTH)
    assert r.json() == {"links": [
        {"link_id": "synth-001", "n_lists": 4, "complete": 1, "in_progress": 1, "to_replace": 0, "free": 2},
        {"link_id": "synth-002", "n_lists": 4, "complete": 0, "in_progress": 0, "to_replace": 0, "free": 4}],
        "blocked": []}
    r = client.post("/admin/replace", headers=AUTH, json={"assignment_ids": ["A1", "A9"]})
    assert r.json() == {"marked": ["A1"], "not_marked": ["A9"]}
    assert client.get("/admin/progress", headers=AUTH).json()["links"][0]["to_replace"] == 1
    assert client.post("/admin/block", headers=AUTH, json={"worker_ids": ["W3", "W4"]}).json() == \
        {"blocked": ["W3", "W4"]}
    assert client.get("/api/eligibility", params={"link": "synth-001", "worker_id": "W3"}).json()["reason"] == "blocked"
    assert client.post("/admin/unblock", headers=AUTH, json={"worker_ids": ["W3"]}).json() == {"blocked": ["W4"]}
    r = client.post("/admin/block", headers=AUTH, json={"worker_ids": ["bad id"]})
    assert r.status_code == 422 and r.json()["detail"].startswith("body field 'worker_ids.0': String should match")
    r = client.get("/admin/export.csv", headers=AUTH)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert tuple(rows[0]) == MVTKind.export_columns
    assert [(x["assignment_id"], x["trial"], x["assignment_status"]) for x in rows] == [
        ("A1", "0", "replaced"), ("A1", "1", "replaced"), ("A1", "2", "replaced"),
        ("A2", "0", "in_progress"), ("A2", "1", "in_progress"), ("A2", "2", "in_progress")]
    assert {x["correct"] for x in rows} == {"true", "false"}
    assert all(x["submitted_at"].endswith("Z") and x["presented_frames"] for x in rows)


def test_admin_export_of_experiments_of_different_kinds_is_refused_and_each_is_served_alone(
        client, synthetic_server, ratings_acr):
    from studies.loader import load_experiment
    from studies.ratings import RatingsKind

    load_experiment(synthetic_server.redis, ratings_acr)
    r = client.get("/admin/export.csv", headers=AUTH)
    assert (r.status_code, r.json()["detail"]) == (400, (
        "the experiments are of different study kinds, whose responses have different columns: acr (ratings), "
        "synth (mvt); export each kind to its own file with --experiment NAME"))
    r = client.get("/admin/export.csv", headers=AUTH, params={"experiment": "acr"})
    assert (r.status_code, r.text) == (200, ",".join(RatingsKind.export_columns) + "\n")
    r = client.get("/admin/export.csv", headers=AUTH, params={"experiment": "nope"})
    assert (r.status_code, r.json()["detail"]) == (400, "no experiment named 'nope' in the store; it holds acr, synth")


def cli(args, redis_url):
    from cli import server as commands

    app = typer.Typer()
    commands.register(app)
    return CliRunner().invoke(app, args, env={"MVT_REDIS_URL": redis_url})


def store_line(redis_url: str, store_kind: str) -> str:
    """The first line of every command that touches the store."""
    return f"store: {redis_url} ({'Redis Cluster, 3 masters' if store_kind == 'cluster' else 'single Redis'})\n"


def test_cli_load_export_replace_block_unblock(redis, redis_url, store_kind, synthetic_experiment, client,
                                               tmp_path):
    first = store_line(redis_url, store_kind)
    result = cli(["load", str(synthetic_experiment)], redis_url)
    assert (result.exit_code, result.output) == (
        0, first + "experiment synth: 2 links, 8 lists; 0 loaded, 2 already loaded\n")
    do_task(client, "W1", "A1")
    out = tmp_path / "responses.csv"
    result = cli(["export", str(out)], redis_url)
    assert (result.exit_code, result.output) == (0, first + f"wrote 3 responses to {out}\n")
    header = out.read_text().splitlines()[0]
    assert header == ",".join(MVTKind.export_columns)
    assert header.startswith(CONTRACT_HEADER + ",")  # /work/shared/INTERFACES.md, "Responses CSV"
    result = cli(["replace", "A1", "A7"], redis_url)
    assert result.output == (first + "marked 1 of 2 assignments for replacement\n"
                             "not marked: A7 (unknown, already marked, or already taken over)\n")
    assert cli(["block", "W5", "W6"], redis_url).output == first + "blocked 2 workers; 2 blocked in total\n"
    assert cli(["unblock", "W5"], redis_url).output == first + "unblocked 1 workers; 1 blocked in total\n"


def test_cli_load_of_a_missing_folder_is_one_line_after_the_store(redis_url, store_kind, tmp_path):
    result = cli(["load", str(tmp_path / "nope")], redis_url)
    assert result.exit_code == 1
    assert result.output == store_line(redis_url, store_kind) + \
        f"error: {tmp_path / 'nope' / 'design.json'} is missing; build the experiment first with `mvt build`\n"


@pytest.mark.parametrize("env, message", [
    ({"MVT_ALLOTTED_MINUTES": "abc"},
     "error: MVT_ALLOTTED_MINUTES ('abc'): Input should be a valid integer, unable to parse string as an integer\n"),
    ({"MVT_MAX_TASKS_PER_WORKER": "0"},
     "error: MVT_MAX_TASKS_PER_WORKER ('0'): Input should be greater than or equal to 1\n"),
    ({"MVT_ADMIN_TOKEN": "short"},
     "error: MVT_ADMIN_TOKEN must be at least 16 characters (or unset to disable admin routes)\n"),
])
def test_cli_bad_settings_are_one_line_naming_the_variable(redis_url, tmp_path, env, message):
    from cli import server as commands

    app = typer.Typer()
    commands.register(app)
    result = CliRunner().invoke(app, ["export", str(tmp_path / "x.csv")], env={"MVT_REDIS_URL": redis_url, **env})
    assert (result.exit_code, result.output) == (1, message)


def test_the_openapi_schema_is_for_the_experimenter_only(client):
    """/docs and /openapi.json were public and listed the admin routes."""
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404, path
    assert client.get("/admin/openapi.json").status_code == 401
    schema = client.get("/admin/openapi.json", headers=AUTH)
    assert schema.status_code == 200 and "/api/assignments" in schema.json()["paths"]
