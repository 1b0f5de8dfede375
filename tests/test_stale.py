"""``ferpipe stale`` reads ``dvc status --json`` and names the cause of each change."""

from __future__ import annotations

from ferpipe.stale import classify

OUTPUTS = {"data/raw/fer2013", "data/prepared", "data/models/cnn", "reports/report.html", "metrics/cnn.json"}


def test_each_kind_of_change_is_named_and_only_missing_things_are_not_stale() -> None:
    status = {
        "prepare": [
            {"changed deps": {"src/ferpipe/detect.py": "modified", "data/raw": "deleted"}},
            {"changed outs": {"data/prepared": "deleted"}},
        ],
        "train@cnn": [{"changed deps": {"params.yaml": {"models.cnn.epochs": "modified"}}}, "changed command"],
        "report": [{"changed outs": {"reports/report.html": "modified"}}],
        "evaluate@cnn": [{"changed deps": {"data/models/cnn": "modified"}}],
    }
    found = {(c.stage, c.cause): c for c in classify(status, OUTPUTS)}
    assert found["prepare", "changed code"].where == "src/ferpipe/detect.py (modified)"
    assert not found["prepare", "missing data"].stale and not found["prepare", "missing output"].stale
    assert found["train@cnn", "changed params"].where == "params.yaml:models.cnn.epochs"
    assert found["train@cnn", "changed command"].stale
    assert found["report", "modified output"].where == "reports/report.html (modified)"
    assert found["evaluate@cnn", "changed data"].stale


def test_a_fresh_clone_with_no_data_is_not_stale() -> None:
    status = {
        "train@cnn": [
            {"changed deps": {"data/balanced": "deleted"}},
            {"changed outs": {"data/models/cnn": "not in cache"}},
        ]
    }
    assert not any(c.stale for c in classify(status, {"data/balanced", "data/models/cnn"}))


def test_a_folder_of_another_stages_outputs_that_is_partly_missing_is_missing_not_changed() -> None:
    status = {
        "train@cnn": [{"changed outs": {"metrics/curves/cnn.csv": "deleted"}}],
        "report": [{"changed deps": {"metrics/curves": "modified"}}],  # only its .gitignore is left
    }
    found = classify(status, {"metrics/curves/cnn.csv"})
    assert [(c.stage, c.cause) for c in found] == [("train@cnn", "missing output"), ("report", "missing data")]
    assert not any(c.stale for c in found)
