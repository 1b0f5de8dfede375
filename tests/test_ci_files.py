"""The CI workflows a user's GitHub or GitLab runs: valid for their platform, running `.ci/run`, then
writing and posting the pull-request comment with CML."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = {"vendor.github-workflows": ".github/workflows/ferpipe.yml", "vendor.gitlab-ci": ".gitlab-ci.yml"}


def _check(schema: str, path: Path) -> subprocess.CompletedProcess:
    checker = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert checker, "check-jsonschema is a dev dependency"
    return subprocess.run([checker, "--builtin-schema", schema, str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("schema", sorted(WORKFLOWS))
def test_each_workflow_fits_its_platforms_schema_and_a_misspelt_one_does_not(schema: str, tmp_path: Path) -> None:
    path = REPO / WORKFLOWS[schema]
    done = _check(schema, path)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / path.name
    broken.write_text(path.read_text().replace("runs-on:", "runs_on:").replace("  script:", "  scripts:"))
    assert _check(schema, broken).returncode != 0


def test_the_workflows_run_ci_then_write_and_post_the_comment_even_when_the_gate_fails() -> None:
    github = yaml.safe_load((REPO / WORKFLOWS["vendor.github-workflows"]).read_text())
    steps = github["jobs"]["ci"]["steps"]
    runs = [step.get("run", "") for step in steps]
    assert "bash .ci/run" in runs
    comment = next(step for step in steps if "ferpipe comment" in step.get("run", ""))
    post = next(step for step in steps if "cml comment update" in step.get("run", ""))
    assert steps.index(comment) < steps.index(post) and all("always()" in s["if"] for s in (comment, post))
    assert "${{" not in comment["run"]  # the base ref reaches the shell as a variable, never spliced into it
    gitlab = yaml.safe_load((REPO / WORKFLOWS["vendor.gitlab-ci"]).read_text())["ferpipe"]
    assert gitlab["script"] == ["bash .ci/run"]
    assert "ferpipe comment" in gitlab["after_script"][0] and "cml comment update" in gitlab["after_script"][0]
