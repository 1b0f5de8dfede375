"""Recipe records: the README table is written from results/recipes/*.json, nothing typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

from ferpipe.presets.recipes import README_END, README_START, recipes_table, update_readme

RECORD = {
    "preset": "fer2013_shared",
    "recorded": "2026-11-24",
    "commit": "abc1234",
    "machine": {"cpu": "AMD EPYC", "cores": 2, "torch_threads": 2, "gpu": None},
    "test_split": "PublicTest",
    "wall_minutes": 70.4,
    "ensemble_minutes": 51.2,
    "overrides": [],
    "models": {
        "cnn": {"val_acc": 0.68, "test_acc": 0.665, "epochs": 16, "train_minutes": 17.9, "images_per_second": 412},
        "cnn_seed1": {
            "val_acc": 0.67,
            "test_acc": 0.655,
            "epochs": 12,
            "train_minutes": 13.4,
            "images_per_second": 409,
        },
    },
    "best": {"name": "ensemble_weighted", "val_acc": 0.7, "test_acc": 0.684},
    "students": {
        "cnn_distilled": {
            "val_acc": 0.69,
            "test_acc": 0.671,
            "epochs": 16,
            "train_minutes": 18.0,
            "images_per_second": 405,
        }
    },
}


def _recorded(root: Path) -> Path:
    folder = root / "results" / "recipes"
    folder.mkdir(parents=True)
    (folder / "cpu.json").write_text(json.dumps(RECORD))
    return root


def test_the_table_has_a_row_per_model_best_and_student_with_its_budget(tmp_path: Path) -> None:
    lines = recipes_table(_recorded(tmp_path)).splitlines()
    assert lines[0].startswith("| recipe run | model | epochs | train min | img/s | val % | test % (95% CI) |")
    assert lines[2] == (
        "| cpu (2-core CPU, 70.4 min end to end, 51.2 min to the ensemble, 2026-11-24) | cnn | 16 | 17.9 | 412 "
        "| 68.0 | 66.5 (PublicTest) |"
    )  # a record without its number of test faces: no interval rather than a guessed one
    assert lines[4] == "|  | ensemble_weighted (best) | - | - | - | 70.0 | 68.4 (PublicTest) |"
    entry = json.loads((tmp_path / "results" / "recipes" / "cpu.json").read_text())
    (tmp_path / "results" / "recipes" / "cpu.json").write_text(json.dumps({**entry, "n_test": 3561}))
    with_n = recipes_table(tmp_path).splitlines()
    assert with_n[2].endswith("| 68.0 | 66.5 (64.9-68.0, PublicTest) |")  # Wilson's interval over 3,561 faces
    assert lines[5].startswith("|  | cnn_distilled (distilled) | 16 | 18 | 405 |")
    assert recipes_table(tmp_path / "nothing") == "(no recipe runs recorded in results/recipes/)"


def test_the_readme_block_is_rewritten_between_its_markers_only(tmp_path: Path) -> None:
    readme = _recorded(tmp_path) / "README.md"
    readme.write_text(f"# top\n{README_START}\nold table\n{README_END}\nbottom\n")
    assert update_readme(tmp_path)
    text = readme.read_text()
    assert "old table" not in text and "| cnn | 16 |" in text and text.endswith(f"{README_END}\nbottom\n")
    readme.write_text("no markers\n")
    assert not update_readme(tmp_path) and readme.read_text() == "no markers\n"


def test_a_run_with_test_only_sources_gets_a_table_of_them_below_its_own(tmp_path: Path) -> None:
    assert "test-only" not in recipes_table(_recorded(tmp_path))  # no cross-dataset scores: one table
    cross = {
        "cnn": {"ckplus": {"accuracy": 0.665, "interval": [0.633, 0.694], "n": 927}},
        "ensemble_weighted": {
            "ckplus": {"accuracy": 0.7, "interval": [0.669, 0.729], "n": 927},
            "jaffe": {"accuracy": 0.545, "interval": [0.478, 0.61], "n": 213},
        },
    }
    (tmp_path / "results" / "recipes" / "cross.json").write_text(json.dumps({**RECORD, "cross": cross}))
    text = recipes_table(tmp_path)
    main, below = text.split("The same runs on their test-only sources (never trained on, never chosen on):")
    assert "| cnn | 16 |" in main and "ckplus" not in main
    lines = below.strip().splitlines()
    assert lines[0] == "| recipe run | model | ckplus % (95% CI, faces) | jaffe % (95% CI, faces) |"
    assert lines[2] == "| cross | cnn | 66.5 (63.3-69.4, 927) | - |"  # not scored on a source: a dash, not a zero
    assert lines[3] == "|  | ensemble_weighted | 70.0 (66.9-72.9, 927) | 54.5 (47.8-61.0, 213) |"
    assert len(lines) == 4  # the run without test-only sources has no rows here


def test_the_record_reads_cross_dataset_scores_from_a_model_s_and_the_ensemble_s_details(tmp_path: Path) -> None:
    from ferpipe.config import Paths
    from ferpipe.presets.recipes import cross_scores

    paths = Paths(tmp_path)
    paths.detail("cnn").parent.mkdir(parents=True)
    scores = {"accuracy": 0.665, "n": 927, "interval": {"accuracy": [0.633, 0.694], "macro_f1": [0.4, 0.6]}}
    paths.detail("cnn").write_text(json.dumps({"test": {}, "cross": {"ckplus": scores}}))
    paths.detail("plain").write_text(json.dumps({"test": {}}))
    paths.detail("ensemble").write_text(json.dumps({"vote": {"cross": {"jaffe": {**scores, "n": 213}}}}))
    assert cross_scores(paths, "cnn") == {"ckplus": {"accuracy": 0.665, "interval": [0.633, 0.694], "n": 927}}
    assert cross_scores(paths, "ensemble_vote") == {"jaffe": {"accuracy": 0.665, "interval": [0.633, 0.694], "n": 213}}
    assert cross_scores(paths, "plain") == {}  # no test-only source declared
