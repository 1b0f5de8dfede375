"""Team scale: the pipeline against a shared MLflow server on real PostgreSQL, two pipelines at once,
as ``ferpipe server`` sets it up for a LAN: a login required, and teammates' host names answered.

Skips, saying why, where PostgreSQL is not installed or will not start; `.ci/run` installs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.project import MODELS, env, make_project, run_queued, tiny_params
from tests.services import Unavailable, mlflow_server, postgres

pytestmark = pytest.mark.slow
EXPERIMENT = "team"
METHODS = ("ensemble_average", "ensemble_vote", "ensemble_weighted")


ADMIN = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "team-admin-pw"}
TEAM_HOST = "mlflow.lan"  # the name teammates use: not this machine's, not an IP address


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """PostgreSQL, then `mlflow server` on it as `ferpipe server` runs it for a team (a login required,
    ``mlflow.lan`` allowed); yields (URL, artifact folder). This process logs in as the admin."""
    folder = tmp_path_factory.mktemp("services")
    admin_env = env(MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN["MLFLOW_TRACKING_PASSWORD"])
    try:
        with (
            postgres() as database,
            mlflow_server(database, folder, admin_env, auth=True, allowed_hosts=(TEAM_HOST,)) as url,
            pytest.MonkeyPatch.context() as patch,
        ):
            for key, value in ADMIN.items():
                patch.setenv(key, value)
            yield url, folder / "artifacts"
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def project(server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline run end to end as an authenticated user."""
    url, _ = server
    params = tiny_params(EXPERIMENT)
    params["models"]["cnn"]["epochs"] = 4
    params["distill"] = {}  # the student's registration is the end-to-end test's; here it would only cost time
    return make_project(tmp_path_factory.mktemp("team"), params, {"gate": {}}, env(MLFLOW_TRACKING_URI=url, **ADMIN))


def _client(url: str):
    import mlflow

    mlflow.set_tracking_uri(url)
    return mlflow.MlflowClient(url)


def _runs(url: str, where: str = "") -> list:
    client = _client(url)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id], filter_string=where, max_results=1000)


def test_runs_metrics_models_and_the_champion_land_on_the_server(server, project: Path) -> None:
    import mlflow
    import numpy as np
    import torch

    url, artifacts = server
    runs = _runs(url)
    pipeline = [r for r in runs if r.data.tags.get("ferpipe.kind") == "pipeline"]
    assert len(pipeline) == 1 and pipeline[0].info.status == "FINISHED"
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == pipeline[0].info.run_id}
    champion = json.loads((project / "metrics" / "details" / "ensemble.json").read_text())["best"]["name"]
    assert sorted(children) == sorted([*MODELS, *METHODS, f"classifier: {champion}"])
    for model in MODELS:
        written = json.loads((project / "metrics" / "details" / f"{model}.json").read_text())["test"]["accuracy"]
        assert children[model].data.metrics["test/accuracy"] == pytest.approx(written, abs=1e-6)
        assert children[model].info.status == "FINISHED"

    loaded = mlflow.pytorch.load_model(f"runs:/{children['cnn'].info.run_id}/cnn")  # through the server
    assert loaded(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    assert any(artifacts.rglob("MLmodel")), "artifacts are stored by the server"
    assert not (project / "mlflow.db").exists() and not (project / "mlruns").exists()

    version = _client(url).get_model_version_by_alias("ferpipe", "champion")
    assert version.run_id == children[f"classifier: {champion}"].info.run_id
    images = np.load(project / "data" / "audited" / "images.npy")[:3]
    answer = mlflow.pyfunc.load_model("models:/ferpipe@champion").predict(images)
    # the model card went beside the model through the server's artifact proxy: the answer says who answered
    assert len(answer) == 3 and (answer["answered_by"] == f"models:/ferpipe/{version.version} ({champion})").all()
    assert version.description.startswith(f"# Model card: ferpipe version {version.version}")


def test_two_pipelines_writing_at_once_keep_their_runs_apart(server, project: Path) -> None:
    url, _ = server
    rates = {"team-a": "1.0e-4", "team-b": "6.0e-4"}
    experiments = {name: ["-S", f"models.logreg.lr={lr}"] for name, lr in rates.items()}
    status = run_queued(project, experiments, env(MLFLOW_TRACKING_URI=url, **ADMIN))
    assert status.count("Success") == 2, status
    for name, lr in rates.items():
        mine = _runs(url, f"tags.`dvc.exp_name` = '{name}'")
        by_name = {r.info.run_name: r for r in mine}
        registered = [n for n in by_name if n.startswith("classifier: ")]  # the pipeline's best
        assert len(registered) == 1
        assert sorted(set(by_name) - set(registered)) == sorted([name, "logreg", *METHODS])  # only logreg retrained
        parent = by_name[name]
        assert all(r.data.tags.get("mlflow.parentRunId") == parent.info.run_id for r in mine if r is not parent)
        assert all(r.data.tags["ferpipe.pipeline"] == parent.data.tags["ferpipe.pipeline"] for r in mine)
        assert all(r.info.status == "FINISHED" for r in mine)
        assert float(by_name["logreg"].data.params["lr"]) == float(lr)
    versions = _client(url).search_model_versions("name = 'ferpipe'")
    assert len({v.version for v in versions}) == len(versions) == 3  # one per pipeline


def _call(url: str, path: str, host: str | None = None, login: tuple[str, str] | None = None, body: dict | None = None):
    """(HTTP status, text) of one REST call, with the Host header and login given."""
    import base64
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if host:
        headers["Host"] = host
    if login:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(login).encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}{path}", data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_teammate_on_the_servers_name_is_answered_and_a_stranger_name_is_not(server, project: Path) -> None:
    url, _ = server
    port = url.rsplit(":", 1)[1]
    admin = (ADMIN["MLFLOW_TRACKING_USERNAME"], ADMIN["MLFLOW_TRACKING_PASSWORD"])
    search = "/api/2.0/mlflow/experiments/search?max_results=5"
    status, text = _call(url, search, host=f"{TEAM_HOST}:{port}", login=admin)
    assert status == 200 and EXPERIMENT in text
    status, text = _call(url, search, host=f"rebind.example:{port}", login=admin)
    assert status == 403 and "Invalid Host header" in text


def test_without_a_login_or_with_read_only_rights_nobody_registers_or_moves_the_champion(server, project: Path) -> None:
    from mlflow.server.auth.client import AuthServiceClient

    url, _ = server
    AuthServiceClient(url).create_user("viewer", "viewer-password-1")  # gets the server's default: READ
    champion = _client(url).get_model_version_by_alias("ferpipe", "champion")
    register = ("/api/2.0/mlflow/model-versions/create", {"name": "ferpipe", "source": champion.source})
    move = ("/api/2.0/mlflow/registered-models/alias", {"name": "ferpipe", "alias": "champion", "version": "1"})
    for path, body in (register, move):
        assert _call(url, path, body=body)[0] == 401  # no login: not even read
        assert _call(url, path, login=("viewer", "viewer-password-1"), body=body)[0] == 403
        assert _call(url, path, login=("viewer", "wrong"), body=body)[0] == 401
    assert (
        _call(url, "/api/2.0/mlflow/registered-models/get?name=ferpipe", login=("viewer", "viewer-password-1"))[0]
        == 200
    )
    assert _client(url).get_model_version_by_alias("ferpipe", "champion").version == champion.version
