"""Report presets: each one is a valid pipeline; claimed and measured land in the right columns."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.models import create_model
from ferpipe.presets import launch, reports
from ferpipe.presets import results as report_results
from ferpipe.presets.apply import committed_params, start_from_committed
from ferpipe.train.config import TrainConfig
from tests.conftest import REPO, params_of

REPORTS = reports.report_names(REPO)


def test_the_five_reports_ship() -> None:
    assert REPORTS == ["cnn_study", "densenet_kdef", "multipipeline", "regxception", "vgg_imbalance"]


@pytest.mark.parametrize("name", REPORTS)
def test_every_variant_of_every_report_is_a_runnable_pipeline(name: str) -> None:
    report = reports.load_report(REPO, name)
    for variant in [reports.BASE, *report.variants]:
        params = report.params_for(variant)
        typed = params_of(**{"distill": {}, **params})  # as `ferpipe reproduce` writes them over params.yaml
        assert {"sources", "prepare", "balance", "models", "ensemble"} <= set(params), variant
        assert set(params["ensemble"]["members"]) <= set(params["models"]), variant
        for source in params["sources"].values():
            assert source["fetch"]["kind"] in ("path", "augmented_copy")  # real data from ../shared
        for model_name, model_cfg in typed.models.items():
            assert TrainConfig.of(typed.train, model_cfg).total_epochs >= 1, model_name
            assert isinstance(create_model(model_cfg.arch, **model_cfg.args), torch.nn.Module)
        for measure in report.measures:  # every measure reads a metrics file this variant writes
            if measure.applies_to(variant):
                file = Path(measure.metric.partition(":")[0]).stem
                assert file == "ensemble" or file in params["models"], (variant, measure.metric)


def test_only_the_report_protocols_leak() -> None:
    for name in REPORTS:
        report = reports.load_report(REPO, name)
        assert not reports.document_leaks(report.params_for(reports.BASE)), name
        for variant in report.variants:
            leaky = bool(reports.document_leaks(report.params_for(variant)))
            assert leaky == (variant == reports.REPORT_PROTOCOL), (name, variant)


def test_list_shows_the_claimed_numbers_with_their_sources() -> None:
    result = CliRunner().invoke(app, ["reproduce", "--list"])
    assert result.exit_code == 0, result.output
    assert "94.34%" in result.output and "doi:10.11591/ijai.v13.i4.pp4703-4710" in result.output
    assert "97.18%" in result.output and "Masa-Tantawy/Facial-Expression-Recognition" in result.output
    assert result.output.count("(LEAKY, on purpose)") == 2
    assert "not on record here" in result.output  # never a made-up claim


def test_unknown_report_and_variant_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="available: cnn_study"):
        reports.load_report(REPO, "nope")
    with pytest.raises(ValueError, match="no variant 'nope'; have: base, report_protocol"):
        reports.load_report(REPO, "regxception").params_for("nope")
    (tmp_path / "presets" / "reports").mkdir(parents=True)
    (tmp_path / "presets" / "reports" / "bad.yaml").write_text(
        "title: x\nsource: y\nmeasures: [{what: a}]\nparams: {}\n"
    )
    with pytest.raises(ValueError, match=r"bad\.yaml: each measure needs 'what' and 'metric'"):
        reports.load_report(tmp_path, "bad")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with one report preset and a README with the results markers."""
    (tmp_path / "presets" / "reports").mkdir(parents=True)
    preset = {
        "title": "Tiny",
        "source": "here",
        "measures": [
            {
                "what": "ensemble accuracy",
                "claimed": 99.0,
                "metric": "metrics/details/ensemble.json:average.test.accuracy",
            },
            {"what": "net accuracy", "metric": "metrics/details/net.json:test.accuracy"},
        ],
        "params": {"models": {"net": {}}, "balance": {"method": "smote"}},
        "variants": {"report_protocol": {"balance": {"method": "smote", "scope": "before_split"}}},
    }
    (tmp_path / "presets" / "reports" / "tiny.yaml").write_text(yaml.safe_dump(preset))
    (tmp_path / "README.md").write_text(
        f"# T\n\n{report_results.README_START}\nold\n{report_results.README_END}\n\nrest\n"
    )
    return tmp_path


def _finish_run(root: Path, net: float, ensemble: float, epochs: int) -> None:
    """What a finished pipeline leaves behind that recording reads."""
    details = root / "metrics" / "details"
    (details / "train").mkdir(parents=True, exist_ok=True)
    (details / "net.json").write_text(json.dumps({"test": {"accuracy": net}}))
    (details / "ensemble.json").write_text(json.dumps({"average": {"test": {"accuracy": ensemble}}}))
    (details / "train" / "net.json").write_text(json.dumps({"epochs_run": epochs, "device": "cpu"}))


def test_recorded_runs_fill_claimed_honest_and_report_columns(project: Path) -> None:
    report = reports.load_report(project, "tiny")
    _finish_run(project, 0.61, 0.63, 5)
    report_results.record(
        project, report, reports.BASE, {**report.params_for(reports.BASE), "train": {"epochs_scale": 0.1}}
    )
    _finish_run(project, 0.93, 0.93, 7)
    report_results.record(project, report, reports.REPORT_PROTOCOL, report.params_for(reports.REPORT_PROTOCOL))
    results = json.loads((project / "results" / "tiny.json").read_text())
    assert results["report_protocol"]["leaky"] is True and results["base"]["leaky"] is False
    table = report_results.results_table(project)
    assert "| tiny | base | ensemble accuracy | 99.00 | 63.00 | 93.00 | cpu, 5 epochs (x0.1 of the recipe); " in table
    assert "| tiny | base | net accuracy | - | 61.00 | 93.00 |" in table
    assert "report_protocol |" not in table  # folded into the base rows' last column
    assert report_results.update_readme(project)
    text = (project / "README.md").read_text()
    assert "old" not in text and table in text and text.endswith("\n\nrest\n")


def test_a_leaky_run_alone_never_lands_in_the_honest_column(project: Path) -> None:
    report = reports.load_report(project, "tiny")
    _finish_run(project, 0.93, 0.95, 7)
    report_results.record(project, report, reports.REPORT_PROTOCOL, report.params_for(reports.REPORT_PROTOCOL))
    assert "| tiny | report_protocol | net accuracy | - | - | 93.00 |" in report_results.results_table(project)


def test_a_run_whose_scores_carry_intervals_shows_them(project: Path) -> None:
    report = reports.load_report(project, "tiny")
    _finish_run(project, 0.61, 0.63, 5)
    details = project / "metrics" / "details" / "net.json"
    details.write_text(json.dumps({"test": {"accuracy": 0.61, "interval": {"accuracy": [0.566, 0.652]}}}))
    report_results.record(project, report, reports.BASE, report.params_for(reports.BASE))
    assert json.loads((project / "results" / "tiny.json").read_text())["base"]["intervals"] == {
        "net accuracy": [56.6, 65.2]
    }
    assert "| tiny | base | net accuracy | - | 61.00 (56.6-65.2) | - |" in report_results.results_table(project)


def test_readme_without_markers_is_an_error(project: Path) -> None:
    (project / "README.md").write_text("# nothing here\n")
    assert not report_results.update_readme(project)


def _commit_params(root: Path, params: dict) -> None:
    """params.yaml committed in a fresh git repository: what a report run starts from."""
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    for command in (
        ["init", "-q"],
        ["add", "params.yaml"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "p"],
    ):
        subprocess.run(["git", *command], cwd=root, check=True)


def test_run_params_apply_the_budget_knobs_and_overrides(project: Path) -> None:
    _commit_params(project, {"train": {"epochs_scale": 0.1, "batch_size": 64}})
    report = reports.load_report(project, "tiny")
    updates = launch.run_params(project, report, reports.BASE, 0.02, 0.5, ["models.net.args.ten_crop=false"])
    assert updates["train"] == {"epochs_scale": 0.02, "batch_size": 64}  # the committed train, rescaled
    assert updates["prepare"] == {"subsample": 0.5}
    assert updates["models"]["net"] == {"args": {"ten_crop": False}}
    assert report.params["models"]["net"] == {}  # the preset itself is untouched
    with pytest.raises(ValueError, match=r"expected key\.path=value"):
        launch.run_params(project, report, reports.BASE, overrides=["models.net"])


def test_a_report_run_starts_from_the_committed_params_not_what_the_last_run_left(project: Path) -> None:
    """A leaky variant's applied params (audit.policy: keep) once carried into the next report's runs,
    which were then recorded as leaky: each run now starts from HEAD's params.yaml."""
    _commit_params(project, {"audit": {"policy": "drop_from_train"}, "train": {"batch_size": 64}})
    (project / "params.yaml").write_text(yaml.safe_dump({"audit": {"policy": "keep"}, "train": {"batch_size": 8}}))
    updates = launch.run_params(project, reports.load_report(project, "tiny"), reports.BASE, 0.5)
    assert updates["train"] == {"batch_size": 64, "epochs_scale": 0.5}
    assert start_from_committed(project, updates)  # the workspace differed, and says so
    written = yaml.safe_load((project / "params.yaml").read_text())
    assert written["audit"] == {"policy": "drop_from_train"} and written["models"] == {"net": {}}
    assert not reports.document_leaks(written)
    (project / "params.yaml").write_text(committed_params(project))
    assert not start_from_committed(project, {})  # the workspace was the committed params: nothing left out


def test_the_leak_banner_reads_the_run_as_the_stages_will(project: Path) -> None:
    """`ferpipe reproduce` shouts before a leaky run: the leaks of HEAD's params with the run's keys over them."""
    _commit_params(project, {"audit": {"policy": "keep"}, "train": {"batch_size": 64}})
    report = reports.load_report(project, "tiny")
    leaky = launch.run_params(project, report, "report_protocol")
    assert [leak.split(":")[0] for leak in launch.run_leaks(project, leaky)] == [
        "balance.scope=before_split",
        "audit.policy=keep",  # not in the variant, but in the params it starts from
    ]
    honest = launch.run_params(project, report, reports.BASE, overrides=["audit.policy=drop_from_train"])
    assert launch.run_leaks(project, honest) == []


def test_without_a_base_run_the_leak_is_read_against_the_honest_twin(project: Path) -> None:
    path = project / "presets" / "reports" / "tiny.yaml"
    preset = yaml.safe_load(path.read_text())
    preset["honest_twin"] = "alone"
    preset["variants"]["alone"] = {"models": {"net": {}}}
    path.write_text(yaml.safe_dump(preset))
    report = reports.load_report(project, "tiny")
    _finish_run(project, 0.40, 0.40, 3)
    report_results.record(project, report, "alone", report.params_for("alone"))
    _finish_run(project, 0.70, 0.70, 3)
    report_results.record(project, report, reports.REPORT_PROTOCOL, report.params_for(reports.REPORT_PROTOCOL))
    table = report_results.results_table(project)
    assert "| tiny | alone | net accuracy | - | 40.00 | 70.00 |" in table and "report_protocol |" not in table


def test_one_budget_shared_by_both_protocols_is_said_once(project: Path) -> None:
    report = reports.load_report(project, "tiny")
    for variant in (reports.BASE, reports.REPORT_PROTOCOL):
        _finish_run(project, 0.5, 0.5, 4)
        report_results.record(project, report, variant, report.params_for(variant))
    row = next(line for line in report_results.results_table(project).splitlines() if "net accuracy" in line)
    assert row.endswith("| cpu, 4 epochs (x1 of the recipe) |")
