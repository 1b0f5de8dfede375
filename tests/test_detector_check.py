"""`ferpipe detector`: the bundled cascades' misses and extras, counted against a known face count."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.serving.detector_check import score_cascades
from tests.conftest import SHARED


def test_misses_and_extras_are_counted_against_the_expected_number() -> None:
    blank = np.full((120, 120), 128, dtype=np.uint8)
    (default, *_) = score_cascades([blank, blank], expected=1)
    assert (default.cascade, default.pictures, default.missed, default.exact, default.extra) == ("default", 2, 2, 0, 0)
    assert score_cascades([blank], expected=0)[0].exact == 1


@pytest.mark.skipif(not (SHARED / "jaffe.tar.gz").exists(), reason="../shared/datasets/jaffe.tar.gz is not here")
def test_the_cascade_in_use_finds_every_jaffe_face_once(tmp_path: Path) -> None:
    """The measurement the README quotes: 213 real photos, one face each."""
    with tarfile.open(SHARED / "jaffe.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    result = CliRunner().invoke(app, ["detector", str(tmp_path), "--expected", "1"])
    assert result.exit_code == 0, result.output
    line = next(row for row in result.stdout.splitlines() if "default (used)" in row)
    assert "213" in line and line.count(" 0 (0.0%)") == 2, result.stdout  # none missed, none extra
