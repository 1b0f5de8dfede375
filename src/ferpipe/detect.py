"""Face detection with OpenCV's bundled frontal-face Haar cascade (no model download needed)."""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import numpy as np


class Box(NamedTuple):
    x: int
    y: int
    w: int
    h: int


# the frontal-face cascades OpenCV's wheel bundles; `ferpipe detector` compares them on your photos
CASCADES = {
    "default": "haarcascade_frontalface_default.xml",
    "alt": "haarcascade_frontalface_alt.xml",
    "alt2": "haarcascade_frontalface_alt2.xml",
    "alt_tree": "haarcascade_frontalface_alt_tree.xml",
}
DEFAULT_CASCADE = "default"


@cache
def _cascade(name: str = DEFAULT_CASCADE) -> Any:
    import cv2

    if name not in CASCADES:
        raise ValueError(f"unknown face cascade {name!r}; OpenCV bundles {', '.join(CASCADES)}")
    return cv2.CascadeClassifier(cv2.data.haarcascades + CASCADES[name])


def find_faces(grey: np.ndarray, min_size: int = 48, cascade: str = DEFAULT_CASCADE) -> list[Box]:
    """Faces in a uint8 grey image, largest first."""
    found = _cascade(cascade).detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    return sorted((Box(*map(int, f)) for f in found), key=lambda b: b.w * b.h, reverse=True)


def face_crop(grey: np.ndarray) -> np.ndarray:
    """The largest face found, or the whole image when there is none."""
    faces = find_faces(grey)
    if not faces:
        return grey
    x, y, w, h = faces[0]
    return grey[y : y + h, x : x + w]
