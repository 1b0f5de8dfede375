"""The params schema: every shipped params file fits, and each kind of mistake is one line naming its key."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ferpipe import choices
from ferpipe.config import load_params, load_yaml
from ferpipe.data.balance import SAMPLERS
from ferpipe.evaluate.ensemble import COMBINERS, METHODS
from ferpipe.presets.apply import available, load_preset
from ferpipe.readers.registry import READERS
from ferpipe.schema import Evaluate, Params, ParamsError, validate_params
from ferpipe.sources import KINDS
from ferpipe.sources.synthetic import WRITERS as SYNTHETIC_LAYOUTS
from ferpipe.train.optim import OPTIMIZERS, SCHEDULES

REPO = Path(__file__).resolve().parents[1]
PARAMS = load_yaml(REPO / "params.yaml")


def _error(params: dict) -> str:
    with pytest.raises(ParamsError) as caught:
        validate_params(params)
    return str(caught.value)


def _with(change) -> dict:
    params = copy.deepcopy(PARAMS)
    change(params)
    return params


def test_the_repo_params_and_every_preset_fit() -> None:
    validate_params(PARAMS)
    for name in available(REPO):  # with what each includes
        validate_params({**PARAMS, **json.loads(json.dumps(load_preset(name, REPO)))}, f"{name}.yaml")
    for path in sorted((REPO / "presets" / "reports").glob("*.yaml")):
        report = load_yaml(path)
        base = {**PARAMS, "distill": {}, **report["params"]}  # as `ferpipe reproduce` writes them
        validate_params(base, path.name)
        for name, variant in (report.get("variants") or {}).items():
            validate_params({**base, **variant}, f"{path.name}:{name}")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # misspelt keys at any depth: each names its path and what is allowed
        (
            lambda p: p["balance"].update(methd=p["balance"].pop("method")),
            r"balance\.methd: unknown key; allowed: method,",
        ),
        (lambda p: p["audit"].update(polcy="fail"), r"audit\.polcy: unknown key"),
        (lambda p: p["sources"]["fer2013"]["read"].update(on_eror="fail"), r"sources\.fer2013\.read\.on_eror: unknown"),
        (lambda p: p["train"]["augment"].update(fliip=True), r"train\.augment\.fliip: unknown key; allowed: flip"),
        (lambda p: p["sources"]["ckplus"]["fetch"].update(sequencs=3), r"sources\.ckplus\.fetch\.sequencs: unknown"),
        (lambda p: p.update(evaluation={}), r"params\.yaml: evaluation: unknown key"),
        # wrong types: named, with the value
        (
            lambda p: p["models"]["cnn"].update(lr="fast"),
            r"models\.cnn\.lr: Input should be a valid number, got 'fast'",
        ),
        (lambda p: p["models"]["cnn"].update(epochs="ten"), r"models\.cnn\.epochs: .*valid integer, got 'ten'"),
        (lambda p: p["train"].update(channels_last="yes"), r"train\.channels_last: .*boolean, got 'yes'"),
        # out of range
        (lambda p: p["train"].update(batch_size=0), r"train\.batch_size: .*greater than or equal to 1, got 0"),
        (lambda p: p["models"]["cnn"].update(lr=-0.01), r"models\.cnn\.lr: .*greater than 0, got -0\.01"),
        (lambda p: p["prepare"].update(val_fraction=1.5), r"prepare\.val_fraction: .*less than 1"),
        (lambda p: p["train"]["augment"].update(scale_range=[1.2, 0.8]), r"train\.augment: scale_range must be"),
        # values outside a named set, missing keys, references
        (lambda p: p["balance"].update(method="smot"), r"balance\.method: Input should be 'none', 'ros'"),
        (lambda p: p["balance"].update(scope="sometimes"), r"balance\.scope: .*'after_split' or 'before_split'"),
        (lambda p: p["balance"].update(strategy={"disgusted": 3}), r"balance\.strategy"),
        (lambda p: p["sources"]["ckplus"]["fetch"].update(kind="ftp"), r"sources\.ckplus\.fetch\.kind: must be one of"),
        # a format without a reader file, a layout without a writer: refused before any stage looks for one
        (
            lambda p: p["sources"]["ckplus"]["read"].update(format="kdef2"),
            r"ckplus\.read\.format: .*'affectnet'",
        ),
        (
            lambda p: p["sources"]["ckplus"]["fetch"].update(layout="kdef"),
            r"ckplus\.fetch\.layout: .*'ckplus'",
        ),
        (lambda p: p["prepare"].update(subsample=0), r"prepare\.subsample: .*greater than 0, got 0"),
        (lambda p: p["models"]["cnn"].pop("arch"), r"models\.cnn\.arch: required key is missing"),
        (
            lambda p: p["sources"]["googlefer"]["fetch"].pop("count"),
            r"googlefer\.fetch\.count: required key .*image_folder",
        ),
        (lambda p: p["ensemble"]["members"].append("vgg"), r"ensemble\.members: 'vgg' is not a model under models"),
        (lambda p: p["ensemble"]["members"].append("cnn"), r"ensemble\.members: 'cnn' is listed twice"),
        (lambda p: p["models"]["cnn"].update(lr=float("inf")), r"models\.cnn\.lr: .*finite number, got inf"),
        (lambda p: p["models"].update({"../evil": {"arch": "logreg"}}), r"models\.\.\./evil.*should match pattern"),
        (lambda p: p["sources"].update({"a b": p["sources"]["ckplus"]}), r"sources\.a b.*should match pattern"),
        # what the code computes from valid values: 120 epochs x 1e308 overflows to infinity
        (
            lambda p: p["train"].update(epochs_scale=1.0e308),
            r"train\.epochs_scale: 120 epochs x epochs_scale 1e\+308 comes to inf epochs for models\.cnn; at most",
        ),
        (
            lambda p: p["models"]["cnn"].update(epochs_scale=5000.0),
            r"models\.cnn\.epochs_scale: 120 epochs x epochs_scale 5000\.0 comes to 600000 epochs",
        ),
        # a 10,000-element list where two numbers belong: one short line, not 50,000 characters
        (
            lambda p: p["train"]["augment"].update(scale_range=list(range(10_000))),
            r"train\.augment\.scale_range: .*at most 2 items.*\.\.\. \(58,890 characters, 10,000 items\)$",
        ),
        (
            lambda p: p["train"].update(optimizer="x" * 50_000),
            r"train\.optimizer: .*\(50,002 characters, 50,000 items\)",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(change, expected: str) -> None:
    message = _error(_with(change))
    assert len(message.splitlines()) == 1, message
    assert len(message) < 500, message
    assert message.startswith("params.yaml: ")
    assert re.search(expected, message), message


def test_every_mistake_in_a_file_is_listed() -> None:
    def several(p: dict) -> None:
        p["audit"]["policy"] = "ignore"
        p["models"]["cnn"]["epochs"] = "ten"
        p["train"]["augment"]["fliip"] = True

    lines = _error(_with(several)).splitlines()
    assert len(lines) == 3 and {line.split(": ")[1] for line in lines} == {
        "audit.policy",
        "models.cnn.epochs",
        "train.augment.fliip",
    }


def test_the_names_match_the_registries_they_choose_from() -> None:
    assert set(choices.READ_FORMATS) == set(READERS)
    assert set(choices.SYNTHETIC_LAYOUTS) == set(SYNTHETIC_LAYOUTS)
    assert set(choices.FETCH_KINDS) == set(KINDS)
    assert set(choices.OPTIMIZERS) == set(OPTIMIZERS)
    assert set(choices.SCHEDULES) == set(SCHEDULES)
    assert set(choices.DISTILL_TEACHERS) < set(COMBINERS) == set(METHODS)
    assert set(choices.BALANCE_METHODS) == {*SAMPLERS, "none", "augment"}


def test_params_are_parsed_once_into_typed_sections_and_the_file_is_kept_as_written(tmp_path: Path) -> None:
    """What the stages hand down is typed, its unset keys filled with the schema's defaults; what
    the pipeline's MLflow run logs (and a study or a recipe copies) is the file as written."""
    written = _with(lambda p: p.pop("evaluate", None))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(written))
    params = load_params(tmp_path / "params.yaml")
    assert isinstance(params, Params) and params.evaluate == Evaluate()  # the defaults the schema documents
    assert params.models["cnn"].arch == PARAMS["models"]["cnn"]["arch"]
    assert params.document() == written and "evaluate" not in params.document()
    with pytest.raises(ValueError, match="frozen"):
        params.evaluate.tta = "flip"  # a stage cannot change what the next layer reads


def test_a_key_given_twice_is_an_error_not_the_last_one_silently(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("balance:\n  method: ros\n  seed: 0\n  method: none\n")
    with pytest.raises(ValueError, match=r"params\.yaml: not valid YAML: .*duplicate key 'method'.*line 4"):
        load_yaml(path)
    path.write_text("base: &base {a: 1, b: 2}\nother:\n  <<: *base\n  b: 3\n")  # a merge may override
    assert load_yaml(path)["other"] == {"a": 1, "b": 3}


def test_an_alias_bomb_anywhere_in_params_is_refused_at_once(tmp_path: Path) -> None:
    """PyYAML shares aliased values, DVC copies them: nine levels of ten aliases are 10^9 values to DVC."""
    levels = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    bomb = "".join(f"        {line}\n" for line in levels)
    params = copy.deepcopy(PARAMS)
    params["models"]["cnn"]["args"] = "BOMB"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params).replace("    args: BOMB\n", "    args:\n      bomb:\n" + bomb))
    with pytest.raises(ValueError, match=r"params\.yaml: its anchors and aliases expand to 1\.2\de\+10 values.*DVC"):
        load_params(path)
    merged = "base: &base {lr: 1.0e-3, seed: 1}\none: {<<: *base, seed: 2}\ntwo: *base\n"  # ordinary anchors stay fine
    (tmp_path / "small.yaml").write_text(merged)
    assert load_yaml(tmp_path / "small.yaml")["one"] == {"lr": 1.0e-3, "seed": 2}


def test_load_params_checks_the_file_and_names_it(tmp_path: Path) -> None:
    bad = _with(lambda p: p["balance"].update(methd="ros"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match=r"^params\.yaml: balance\.methd: unknown key"):
        load_params(tmp_path / "params.yaml")


def test_a_stage_refuses_bad_params_before_any_work(tmp_path: Path) -> None:
    """The balance stage exits 1 with the one line, writes nothing, and shows no traceback."""
    bad = _with(lambda p: p["balance"].update(methd=p["balance"].pop("method")))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    result = subprocess.run(
        [sys.executable, str(REPO / "stages" / "balance.py")], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: params.yaml: balance.methd: unknown key; allowed: method, scope, strategy, k_neighbors, seed"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dvc.yaml", "params.yaml"]


def test_model_args_are_checked_against_the_builder() -> None:
    from ferpipe.models import create_model

    with pytest.raises(ValueError, match=r"simple_cnn has no argument widthz; allowed: .*widths"):
        create_model("simple_cnn", widthz=[8])
    with pytest.raises(ValueError, match=r"unknown model 'simple_cnnn'"):
        create_model("simple_cnnn")
    with pytest.raises(ValueError, match=r"simple_cnn cannot be built"):
        create_model("simple_cnn", widths="wide")


def test_the_reference_lists_the_keys_of_every_named_entry() -> None:
    """models, sources and distill are maps with stage-safe names: their entries' keys are rows too."""
    from ferpipe.report.params_reference import reference

    text = reference()
    for key in ("models.<name>.arch", "models.<name>.lr", "sources.<name>.read.format", "distill.<name>.recipe"):
        assert f"| `{key}` |" in text, key
