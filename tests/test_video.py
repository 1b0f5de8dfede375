"""``ferpipe predict`` on video: faces tracked across frames of a video the test draws, and bad video named."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ferpipe.cli import app
from ferpipe.detect import Box, find_faces
from ferpipe.labels import CLASSES
from ferpipe.models import create_model
from ferpipe.serving.classifier import FerClassifier
from ferpipe.serving.predict import UNREADABLE
from ferpipe.serving.video import FaceTracker, iou, predict_file
from ferpipe.sources.faces import RenderOptions, render_faces

FRAMES, FPS, SIDE, WIDTH, HEIGHT = 24, 8.0, 96, 360, 200


def _detectable_faces(n: int) -> list[np.ndarray]:
    """``n`` rendered faces the Haar cascade finds on the video's background."""
    options = RenderOptions(size=SIDE, noise_range=(0.01, 0.02), occlusion_prob=0.0, max_rotation_deg=0.0)
    faces = render_faces(np.random.default_rng(7), np.arange(28) % 7, options)
    found = [f for f in faces if len(find_faces(np.pad(f, 30, constant_values=120), min_size=24)) == 1]
    assert len(found) >= n, "the renderer no longer draws faces the cascade finds"
    return found[:n]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two faces drifting towards each other (never overlapping) over a grey background, as MP4."""
    import cv2

    path = tmp_path_factory.mktemp("video") / "two_faces.mp4"
    left, right = _detectable_faces(2)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    for t in range(FRAMES):
        frame = np.full((HEIGHT, WIDTH), 120, dtype=np.uint8)
        frame[50 : 50 + SIDE, 20 + 2 * t : 20 + 2 * t + SIDE] = left
        frame[50 : 50 + SIDE, 240 - 2 * t : 240 - 2 * t + SIDE] = right
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def classifier() -> FerClassifier:
    torch.manual_seed(0)
    return FerClassifier({"m": create_model("simple_cnn", widths=[8, 8, 8]).eval()})


def test_each_face_keeps_one_track_across_the_video(clip: Path, classifier: FerClassifier) -> None:
    rows = predict_file(clip, classifier)
    faces = [r for r in rows if r["track"] is not None]
    sides = {"left": {r["track"] for r in faces if r["x"] < WIDTH / 2 - SIDE / 2}}
    sides["right"] = {r["track"] for r in faces if r["x"] >= WIDTH / 2 - SIDE / 2}
    assert len(sides["left"]) == 1 and len(sides["right"]) == 1 and sides["left"] != sides["right"]
    assert len(faces) >= 0.9 * 2 * FRAMES  # the cascade finds both faces in nearly every frame
    first = faces[0]
    assert first["time"] == pytest.approx(first["frame"] / FPS) and abs(sum(first[c] for c in CLASSES) - 1) < 1e-4


def test_every_nth_frame_is_scored(clip: Path, classifier: FerClassifier) -> None:
    frames = {r["frame"] for r in predict_file(clip, classifier, every=4)}
    assert frames <= set(range(0, FRAMES, 4)) and len(frames) >= FRAMES // 4 - 1


def test_smoothing_keeps_a_label_from_flickering() -> None:
    box = Box(10, 10, 50, 50)
    flicker = [np.array([0.55, 0.45]), np.array([0.45, 0.55])] * 5
    for smoothing, flips in ((0.0, 9), (0.8, 0)):
        tracker = FaceTracker(smoothing)
        labels = [int(tracker.update(step, [box], [p])[0].probs.argmax()) for step, p in enumerate(flicker)]
        assert sum(a != b for a, b in itertools.pairwise(labels)) == flips


def test_a_face_that_moves_far_or_is_lost_too_long_starts_a_new_track() -> None:
    tracker = FaceTracker(max_gap=2)
    probs = [np.array([1.0, 0.0])]
    first = tracker.update(0, [Box(0, 0, 40, 40)], probs)[0].id
    assert tracker.update(1, [Box(4, 0, 40, 40)], probs)[0].id == first  # moved a little: same face
    assert tracker.update(2, [Box(200, 0, 40, 40)], probs)[0].id != first  # elsewhere: another face
    assert tracker.update(9, [Box(4, 0, 40, 40)], probs)[0].id != first  # gone for 7 frames: a new track
    assert iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_the_annotated_video_is_written_whole(clip: Path, classifier: FerClassifier, tmp_path: Path) -> None:
    import cv2

    predict_file(clip, classifier, annotate=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["two_faces.mp4"]  # no temporary left behind
    capture = cv2.VideoCapture(str(tmp_path / "two_faces.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    capture.release()


def test_corrupt_and_empty_videos_are_named_and_the_batch_carries_on(tmp_path: Path, classifier) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42 and then nothing a player could use" * 20)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    for path in (corrupt, empty):
        (row,) = predict_file(path, classifier, annotate=tmp_path / "out")
        assert row["label"] == UNREADABLE and str(path) in row["error"] and "OpenCV" in row["error"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_cli_tracks_faces_in_videos_beside_photos(workspace: Path, clip: Path) -> None:
    (workspace / "media").mkdir()
    (workspace / "media" / "clip.mp4").write_bytes(clip.read_bytes())
    (workspace / "media" / "broken.mov").write_bytes(b"not a movie")
    result = CliRunner().invoke(app, ["predict", "media", "--model", "a", "--every", "2", "--out", "rows.json"])
    assert result.exit_code == 0, result.output
    assert "2 videos, 2 tracked faces; answered by model a (workspace)" in result.stdout
    rows = json.loads((workspace / "rows.json").read_text())
    assert {r["label"] for r in rows if r["file"].endswith("broken.mov")} == {UNREADABLE}
    assert {r["track"] for r in rows if r["file"].endswith("clip.mp4")} >= {0, 1}


def test_a_camera_that_cannot_be_opened_is_one_error_line(workspace: Path) -> None:
    result = CliRunner().invoke(app, ["predict", "--camera", "97", "--model", "a"])
    assert result.exit_code == 1 and "camera 97: OpenCV cannot open it" in result.output
    both = CliRunner().invoke(app, ["predict", "media", "--camera", "0"])
    assert both.exit_code == 2 and "not both" in both.output
