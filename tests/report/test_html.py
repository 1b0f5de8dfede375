"""The report's data section, built from the stages' detail files."""

from __future__ import annotations

from pathlib import Path

from ferpipe.config import Paths
from ferpipe.io import write_json
from ferpipe.report.html import _data_section

COUNTS = {"angry": 5, "disgust": 1, "fear": 4, "happy": 9, "neutral": 6, "sad": 3, "surprise": 2}


def test_the_audit_table_counts_in_whole_images(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    write_json(paths.detail("data_report"), {"counts": {"rafdb": {"train": COUNTS}}, "dropped": {"rafdb: x": 2}})
    exact = {"extra~heldout": {"copies": 0, "pairs": 0}, "train~test": {"copies": 3, "held_images": 3, "pairs": 3}}
    audit = {"policy": "drop_from_train", "exact": exact, "test_images_with_copies": 3}
    write_json(paths.detail("audit"), {**audit, "val_images_with_copies": 0, "dropped": 3})
    write_json(paths.detail("balance"), {"train_before": COUNTS, "train_after": COUNTS, "val_untouched": COUNTS,
                                         "test_untouched": COUNTS})  # fmt: skip
    html = _data_section(paths)
    assert "<td>rafdb</td>" in html and "<td>3</td>" in html and "<td>-</td>" in html
    assert "3.0000" not in html  # a held-images count is a whole number, not a float with four decimals
