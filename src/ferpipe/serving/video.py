"""``ferpipe predict`` on video: faces found per frame, tracked across frames, probabilities smoothed.

Frames are read with OpenCV (every ``every``-th one is scored). Each scored frame's faces are
found with the same Haar cascade as photos and matched to the live tracks by box overlap (IoU)
with the Hungarian algorithm (scipy's ``linear_sum_assignment``), as SORT does without its motion
model: faces at 48x48 move little between frames, and a track that misses a few frames keeps
its id. Each track's probabilities are an exponential moving average over its frames, so a label
does not flicker from one frame to the next. A live camera is the same loop over
``cv2.VideoCapture(index)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

from ferpipe.detect import Box, find_faces
from ferpipe.io import atomic_path
from ferpipe.labels import CLASSES
from ferpipe.serving.classifier import SIDE, FerClassifier
from ferpipe.serving.predict import NO_FACE, UNREADABLE, draw_face

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
ANNOTATED_SUFFIX = ".mp4"
MIN_IOU = 0.3  # a face overlapping a track's last box this much is the same face
MAX_GAP = 10  # scored frames a track may miss before it ends


@dataclass
class Track:
    """One face followed across frames: its last box and its smoothed probabilities."""

    id: int
    box: Box
    probs: np.ndarray
    last_seen: int


@dataclass
class FaceTracker:
    """Matches each frame's faces to tracks by IoU; ``smoothing`` is the weight of a track's history
    in its moving average (0: every frame alone)."""

    smoothing: float = 0.6
    min_iou: float = MIN_IOU
    max_gap: int = MAX_GAP
    tracks: list[Track] = field(default_factory=list)
    next_id: int = 0

    def update(self, step: int, boxes: list[Box], probs: np.ndarray) -> list[Track]:
        """The tracks of this frame's faces, in the order of ``boxes`` (new faces start new tracks)."""
        from scipy.optimize import linear_sum_assignment

        self.tracks = [t for t in self.tracks if step - t.last_seen <= self.max_gap]
        matched: dict[int, Track] = {}
        if self.tracks and boxes:
            overlap = np.array([[iou(t.box, b) for b in boxes] for t in self.tracks])
            for row, col in zip(*linear_sum_assignment(-overlap), strict=True):
                if overlap[row, col] >= self.min_iou:
                    matched[int(col)] = self.tracks[row]
        out = []
        for i, (box, p) in enumerate(zip(boxes, probs, strict=True)):
            track = matched.get(i)
            if track is None:
                track = Track(self.next_id, box, np.asarray(p, dtype=np.float64), step)
                self.next_id += 1
                self.tracks.append(track)
            else:
                track.box, track.last_seen = box, step
                track.probs = self.smoothing * track.probs + (1 - self.smoothing) * np.asarray(p, dtype=np.float64)
            out.append(track)
        return out


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    h = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = w * h
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union else 0.0


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


class UnreadableVideo(ValueError):
    """A video (or camera) OpenCV cannot open, or one without a single readable frame."""


@contextmanager
def opened(source: Path | int) -> Iterator[Any]:
    """An OpenCV capture of a video file (or a camera index), released afterwards."""
    import cv2

    capture = cv2.VideoCapture(str(source) if isinstance(source, Path) else source)
    try:
        if not capture.isOpened():
            if isinstance(source, Path):
                raise UnreadableVideo(f"{source}: not a video OpenCV can read (corrupt, or an unsupported format)")
            raise UnreadableVideo(f"camera {source}: OpenCV cannot open it (no such camera, or it is busy)")
        yield capture
    finally:
        capture.release()


def frame_rows(
    capture: Any, name: str, classifier: FerClassifier, every: int = 1, smoothing: float = 0.6
) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
    """One row per face per scored frame of an opened capture (time, track id, box, smoothed label
    and probabilities), each with its frame (BGR) for annotation; a frame without a face gives a
    ``no face`` row."""
    import cv2

    if every < 1:
        raise ValueError(f"--every must be at least 1, got {every}")
    tracker = FaceTracker(smoothing)
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    index = -1
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1
        if index % every:
            continue
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = find_faces(grey, min_size=max(24, min(grey.shape) // 20))
        at = {"file": name, "frame": index, "time": round(index / fps, 3) if fps else None}
        if not boxes:
            yield {**at, "track": None, "label": NO_FACE}, frame
            continue
        faces = np.stack([cv2.resize(grey[b.y : b.y + b.h, b.x : b.x + b.w], (SIDE, SIDE)) for b in boxes])
        for track in tracker.update(index // every, boxes, classifier.predict_proba(faces)):
            row = {**at, "track": track.id, **track.box._asdict(), "label": CLASSES[int(track.probs.argmax())]}
            yield {**row, **dict(zip(CLASSES, track.probs.round(6).tolist(), strict=True))}, frame
    if index < 0:
        raise UnreadableVideo(f"{name}: no frames could be read (an empty or corrupt video)")


def write_annotated(frames: Iterator[tuple[np.ndarray, list[dict[str, Any]]]], target: Path, fps: float) -> None:
    """The frames with each face's box, track id and label drawn, as an MP4 written atomically."""
    import cv2

    with atomic_path(target) as tmp:
        movie = tmp.with_name(tmp.name + ANNOTATED_SUFFIX)  # OpenCV picks the container by the suffix
        writer = None
        try:
            for frame, rows in frames:
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(str(movie), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
                    if not writer.isOpened():
                        raise ValueError(f"{target}: OpenCV cannot write an MP4 video here")
                for row in rows:
                    if row["track"] is not None:
                        text = f"#{row['track']} {row['label']} {max(row[c] for c in CLASSES):.2f}"
                        draw_face(frame, Box(row["x"], row["y"], row["w"], row["h"]), text)
                writer.write(frame)
            if writer is not None:
                writer.release()
                writer = None
                os.replace(movie, tmp)
        finally:
            if writer is not None:
                writer.release()
            movie.unlink(missing_ok=True)


def predict_file(
    path: Path, classifier: FerClassifier, every: int = 1, smoothing: float = 0.6, annotate: Path | None = None
) -> list[dict[str, Any]]:
    """All rows of one video file, and its annotated copy in ``annotate`` when given; a video that
    cannot be read gets one ``unreadable`` row with the reason, and the rest of the batch carries on."""
    import cv2

    try:
        with opened(path) as capture:
            rows = frame_rows(capture, str(path), classifier, every, smoothing)
            if annotate is None:
                return [row for row, _ in rows]
            collected: list[dict[str, Any]] = []
            fps = (capture.get(cv2.CAP_PROP_FPS) or 25.0) / every
            write_annotated(_by_frame(rows, collected), annotate / f"{path.stem}{ANNOTATED_SUFFIX}", fps)
            return collected
    except UnreadableVideo as exc:
        return [{"file": str(path), "frame": None, "track": None, "label": UNREADABLE, "error": str(exc)}]


def watch(camera: int, classifier: FerClassifier, every: int = 1, smoothing: float = 0.6) -> Iterator[dict[str, Any]]:
    """A live camera's rows as they come: the same loop as a file (not testable without a camera)."""
    with opened(camera) as capture:
        for row, _ in frame_rows(capture, f"camera {camera}", classifier, every, smoothing):
            yield row


def tracks_table(rows: list[dict[str, Any]], answered_by: str) -> str:
    """The terminal summary of videos: a line per tracked face (frames, time span, its most frequent
    label), and a line per video for frames without a face and for a video that could not be read."""
    from collections import Counter

    from ferpipe.tables import render

    shown = []
    for file, per_file in groupby(rows, key=lambda r: r["file"]):
        per_file = list(per_file)
        tracked = sorted({r["track"] for r in per_file if r["track"] is not None})
        for track in tracked:
            mine = [r for r in per_file if r["track"] == track]
            label = Counter(r["label"] for r in mine).most_common(1)[0][0]
            span = f"{_when(mine[0])}-{_when(mine[-1])}"
            shown.append((file, str(track), str(len(mine)), span, label))
        misses = [r for r in per_file if r["track"] is None]
        if misses:
            shown.append((file, "-", str(len(misses)), "", misses[0]["label"]))  # no face, or unreadable
    columns = [("video", "left"), ("track", "right"), ("frames", "right"), ("time", "left"), ("label", "left")]
    tracks = sum(1 for line in shown if line[1] != "-")
    title = f"{len({r['file'] for r in rows})} videos, {tracks} tracked faces; answered by {answered_by}"
    return render(title, columns, shown)


def _when(row: dict[str, Any]) -> str:
    return f"{row['time']:.2f}s" if row.get("time") is not None else f"frame {row['frame']}"


def _by_frame(
    rows: Iterator[tuple[dict[str, Any], np.ndarray]], collected: list[dict[str, Any]]
) -> Iterator[tuple[np.ndarray, list[dict[str, Any]]]]:
    """The rows grouped by frame, with the frame (every row is also appended to ``collected``)."""
    for _, group in groupby(rows, key=lambda pair: pair[0]["frame"]):
        pairs = list(group)
        collected.extend(row for row, _ in pairs)
        yield pairs[0][1], [row for row, _ in pairs]
