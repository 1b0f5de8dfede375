"""Robustness: the test split's faces (a seeded 1,000 of them when there are more) under corruptions
at three severities, the same corrupted faces for every model, ensemble method and student (seeded
per corruption and severity), scored as accuracy with Wilson's interval beside the same faces clean.
Published FER robustness studies occlude the eyes and the mouth; the photometric corruptions are
what a webcam does to a face (noise, blur, compression, bad light).

Noise, blur, JPEG, brightness/contrast and random patches are albumentations' transforms; the eye
and mouth bands are a fixed rectangle across the aligned face (no transform places one there)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ferpipe.evaluate.uncertainty import wilson

SEVERITIES = (1, 2, 3)
ROBUST_SPLIT = "robust_test"  # a model's probabilities on the chosen test faces, clean then corrupted
# Faces scored under corruption: 22 views of each, one plain forward pass per view (no test-time views:
# ten crops of 22 x 3,589 faces would take a CPU half an hour). The real-data recipe's nets score about
# 700 faces a second on 2 cores, so 1,000 faces keep a model's 22,000 passes near 30 s.
MAX_FACES = 1000
ROBUSTNESS = "robustness"  # metrics/details/robustness.json: the members and ensemble methods side by side
SEED = 0
# Where the eyes and the mouth sit on an aligned 48x48 face, as a share of its height: FER2013's mean
# face is darkest at rows 17 (eyes) and 36-40 (mouth), the built-in faces' at 17 and 33-34. The
# band's height at each severity (6, 9 and 12 rows of 48) covers both at the higher severities.
EYE_ROW, MOUTH_ROW = 0.36, 0.75
BAND_HEIGHTS = (0.125, 0.1875, 0.25)


def _albumentation(build: Callable[[int], Any]) -> Callable[[np.ndarray, int, int], np.ndarray]:
    """A corruption applying ``build(severity)`` (an albumentations transform) to every face, seeded."""

    def apply(images: np.ndarray, severity: int, seed: int) -> np.ndarray:
        import albumentations as A

        transform = A.Compose([build(severity)], seed=seed)
        return np.stack([transform(image=face)["image"] for face in images]) if len(images) else images.copy()

    return apply


def _band(centre: float) -> Callable[[np.ndarray, int, int], np.ndarray]:
    """A corruption filling a horizontal band of the face with black, taller with severity."""

    def apply(images: np.ndarray, severity: int, seed: int) -> np.ndarray:
        side = images.shape[1]
        height = round(BAND_HEIGHTS[severity - 1] * side)
        top = max(0, round(centre * side - height / 2))
        occluded = images.copy()
        occluded[:, top : top + height, :] = 0
        return occluded

    return apply


def _gauss_noise(severity: int) -> Any:
    import albumentations as A

    std = (0.04, 0.08, 0.16)[severity - 1]  # of the grey range: about 10, 20, 41 grey levels
    return A.GaussNoise(std_range=(std, std), p=1.0)


def _blur(severity: int) -> Any:
    import albumentations as A

    sigma = (0.8, 1.4, 2.2)[severity - 1]
    return A.GaussianBlur(blur_limit=0, sigma_limit=(sigma, sigma), p=1.0)


def _jpeg(severity: int) -> Any:
    import albumentations as A

    quality = (30, 15, 6)[severity - 1]
    return A.ImageCompression(quality_range=(quality, quality), p=1.0)


def _dim(severity: int) -> Any:
    import albumentations as A

    # darker and flatter, a face in a badly lit room: grey levels x0.8, x0.65, x0.45 (contrast), then
    # 5%, 10%, 10% of the range darker; FER2013's mean grey of about 125 falls to about 85, 55, 30
    brightness = (-0.05, -0.1, -0.1)[severity - 1]
    contrast = (-0.2, -0.35, -0.55)[severity - 1]
    return A.RandomBrightnessContrast(
        brightness_limit=(brightness, brightness), contrast_limit=(contrast, contrast), p=1.0
    )


def _patches(severity: int) -> Any:
    import albumentations as A

    holes = (2, 4, 8)[severity - 1]
    return A.CoarseDropout(num_holes_range=(holes, holes), hole_height_range=(8, 8), hole_width_range=(8, 8), p=1.0)


CORRUPTIONS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "gaussian_noise": _albumentation(_gauss_noise),
    "blur": _albumentation(_blur),
    "jpeg": _albumentation(_jpeg),
    "brightness_contrast": _albumentation(_dim),
    "occlude_eyes": _band(EYE_ROW),
    "occlude_mouth": _band(MOUTH_ROW),
    "occlude_patches": _albumentation(_patches),
}


def views() -> list[tuple[str, int]]:
    """(corruption, severity) in the order the corrupted sets are stacked and saved."""
    return [(name, severity) for name in CORRUPTIONS for severity in SEVERITIES]


def corrupted(images: np.ndarray, seed: int = SEED) -> np.ndarray:
    """(views, n, h, w): ``images`` under every corruption and severity, in :func:`views` order; each
    view seeded by its place, so every model is scored on the same corrupted faces."""
    return np.stack([CORRUPTIONS[name](images, severity, seed + i) for i, (name, severity) in enumerate(views())])


def chosen_faces(n: int, seed: int = SEED) -> np.ndarray:
    """The test faces the corruptions are applied to: all of them up to ``MAX_FACES``, else a seeded
    sample of that many (sorted), the same for every model."""
    if n <= MAX_FACES:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, MAX_FACES, replace=False))


def robustness_faces(images: np.ndarray) -> np.ndarray:
    """(1 + views, m, h, w): the chosen test faces clean, then under every corruption and severity."""
    faces = images[chosen_faces(len(images))]
    return np.concatenate([faces[None], corrupted(faces)])


def score_robustness(labels: np.ndarray, probs: Sequence[np.ndarray]) -> dict[str, Any]:
    """Accuracy (with Wilson's interval) of the chosen test faces clean (``probs[0]``) and under each
    corruption and severity (the rest, in :func:`views` order); the mean over severities per
    corruption, the mean over all, and the weakest corruption (the lowest mean). ``labels``: the
    whole test split's."""
    labels = labels[chosen_faces(len(labels))]
    n = len(labels)

    def accuracy(p: np.ndarray) -> tuple[int, float]:
        correct = int((p.argmax(axis=1) == labels).sum())
        return correct, correct / n if n else 0.0

    table: dict[str, Any] = {}
    for (name, severity), p in zip(views(), probs[1:], strict=True):
        correct, share = accuracy(p)
        table.setdefault(name, {})[str(severity)] = {"accuracy": share, "interval": list(wilson(correct, n))}
    means = {name: float(np.mean([v["accuracy"] for v in by.values()])) for name, by in table.items()}
    return {
        "n": n,
        "clean_accuracy": accuracy(probs[0])[1],
        "corruptions": table,
        "mean_by_corruption": means,
        "mean_accuracy": float(np.mean(list(means.values()))),
        "weakest": min(means, key=means.__getitem__),
    }


def robustness_mlflow_metrics(robustness: dict[str, Any]) -> dict[str, float]:
    """``robust/<corruption>/<severity>/accuracy``, each corruption's mean and the mean over all."""
    if not robustness:
        return {}
    flat = {
        f"robust/{name}/{severity}/accuracy": v["accuracy"]
        for name, by in robustness["corruptions"].items()
        for severity, v in by.items()
    }
    flat |= {f"robust/{name}/mean_accuracy": m for name, m in robustness["mean_by_corruption"].items()}
    return flat | {"robust/mean_accuracy": robustness["mean_accuracy"]}


def robustness_table(scored: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The members' and ensemble methods' robustness side by side, with the corrupted views' order.
    Students train after the ensemble, so theirs is in their own details (the report shows all)."""
    return {
        "views": [list(view) for view in views()],
        "models": scored,
        "students": "in metrics/details/<student>.json under robustness (distill runs after the ensemble)",
    }


def severity_curve(scored: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for ``dvc plots`` and the report: each model's accuracy at severity 0 (clean) to 3,
    averaged over the corruptions."""
    rows = []
    for name, robustness in scored.items():
        rows.append({"model": name, "severity": 0, "accuracy": round(robustness["clean_accuracy"], 6)})
        for severity in SEVERITIES:
            at = [by[str(severity)]["accuracy"] for by in robustness["corruptions"].values()]
            rows.append({"model": name, "severity": severity, "accuracy": round(float(np.mean(at)), 6)})
    return rows
