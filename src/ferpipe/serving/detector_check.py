"""``ferpipe detector``: how often each face cascade OpenCV bundles misses or double-counts faces.

Run it on photos (or video frames) that hold a known number of faces each: a picture where a
cascade finds fewer is a miss, more is an extra (a double count or a false face). The pipeline
uses ``detect.DEFAULT_CASCADE``; this is the measurement behind that choice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferpipe.detect import CASCADES, DEFAULT_CASCADE, find_faces


@dataclass(frozen=True)
class CascadeScore:
    """One cascade's counts over the pictures."""

    cascade: str
    pictures: int
    missed: int  # fewer faces found than expected
    exact: int
    extra: int  # more faces found than expected
    ms_per_picture: float


def grey_pictures(files: Iterable[Path], every: int = 1) -> Iterator[np.ndarray]:
    """Every photo, and every ``every``-th frame of every video, as uint8 grey."""
    import cv2

    from ferpipe.serving.predict import read_picture
    from ferpipe.serving.video import is_video, opened

    for path in files:
        if not is_video(path):
            yield cv2.cvtColor(read_picture(path), cv2.COLOR_RGB2GRAY)
            continue
        with opened(path) as capture:
            index = 0
            while (frame := capture.read())[0]:
                if index % every == 0:
                    yield cv2.cvtColor(frame[1], cv2.COLOR_BGR2GRAY)
                index += 1


def score_cascades(pictures: list[np.ndarray], expected: int) -> list[CascadeScore]:
    """Each bundled cascade on the same pictures, with the minimum face size the predictor uses."""
    scores = []
    for name in CASCADES:
        began = time.perf_counter()
        found = np.array([len(find_faces(g, max(24, min(g.shape) // 20), name)) for g in pictures])
        seconds = time.perf_counter() - began
        scores.append(
            CascadeScore(
                name,
                len(pictures),
                int((found < expected).sum()),
                int((found == expected).sum()),
                int((found > expected).sum()),
                round(1000 * seconds / max(1, len(pictures)), 1),
            )
        )
    return scores


def scores_table(scores: list[CascadeScore], expected: int) -> str:
    from ferpipe.tables import render

    columns = [("cascade", "left"), ("pictures", "right"), ("missed", "right"), ("exact", "right")]
    columns += [("extra", "right"), ("ms/picture", "right")]
    rows = [
        (
            s.cascade + (" (used)" if s.cascade == DEFAULT_CASCADE else ""),
            str(s.pictures),
            f"{s.missed} ({s.missed / max(1, s.pictures):.1%})",
            str(s.exact),
            f"{s.extra} ({s.extra / max(1, s.pictures):.1%})",
            f"{s.ms_per_picture:.1f}",
        )
        for s in scores
    ]
    return render(f"faces found against {expected} expected per picture", columns, rows)
