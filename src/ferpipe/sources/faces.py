"""A procedural renderer of expressive faces: the built-in data that needs no download.

Each face is drawn from implicit shapes (head, eyes, brows, nose, mouth) in face-local
coordinates, so identity, pose, scale, lighting, noise and occlusion vary independently of
the expression. Expressions are a few muscle-like controls (mouth curve and opening, brow
raise and tilt, eye opening, nose wrinkle, asymmetry) set per class and scaled by a random
intensity, so weak expressions drift towards neutral as they do in real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The 8 expressions the generator knows: the canonical 7 plus contempt.
EXPRESSIONS: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
    "contempt",
)

# Per-expression controls at full intensity:
# curve, open, width, brow_raise, brow_tilt (inner end down), eye_open, wrinkle, asymmetry.
_CONTROLS = ("curve", "open", "width", "brow_raise", "brow_tilt", "eye_open", "wrinkle", "asym")
_NEUTRAL = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32)
_EXPRESSION_CONTROLS = np.array(
    [
        [-0.35, 0.15, 0.95, -0.8, 1.0, 0.85, 0.2, 0.0],  # angry
        [-0.5, 0.1, 0.9, -0.45, 0.35, 0.7, 1.0, 0.3],  # disgust
        [-0.25, 0.55, 1.3, 0.8, -0.5, 1.45, 0.0, 0.0],  # fear
        [1.0, 0.3, 1.2, 0.1, 0.0, 0.65, 0.0, 0.0],  # happy
        [-0.8, 0.0, 0.9, 0.25, -1.0, 0.75, 0.0, 0.0],  # sad
        [0.0, 1.0, 0.7, 1.0, 0.0, 1.55, 0.0, 0.0],  # surprise
        _NEUTRAL,  # neutral
        [0.35, 0.0, 1.0, 0.0, 0.0, 0.95, 0.0, 1.0],  # contempt
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class RenderOptions:
    """How hard the images are: the ranges of the nuisance factors."""

    size: int = 48
    rgb: bool = False
    max_rotation_deg: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shift: float = 0.06
    noise_range: tuple[float, float] = (0.01, 0.08)
    occlusion_prob: float = 0.25
    intensity_range: tuple[float, float] = (0.3, 1.0)
    control_jitter: float = 0.18


def sample_identities(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` identities: face geometry, skin, hair; stable across one subject's frames."""
    return {
        "face_w": rng.uniform(0.55, 0.72, n),
        "face_h": rng.uniform(0.74, 0.92, n),
        "eye_dx": rng.uniform(0.2, 0.3, n),
        "eye_y": rng.uniform(-0.24, -0.1, n),
        "eye_size": rng.uniform(0.055, 0.085, n),
        "mouth_y": rng.uniform(0.36, 0.5, n),
        "mouth_w": rng.uniform(0.18, 0.28, n),
        "skin": rng.uniform(0.45, 0.85, n),
        "hair": rng.uniform(0.0, 1.0, n) < 0.6,
        "hair_shade": rng.uniform(0.05, 0.35, n),
        "tint": rng.uniform(0.75, 1.0, (n, 3)),
    }


def expression_controls(
    rng: np.random.Generator,
    expressions: np.ndarray,
    options: RenderOptions,
    intensity: np.ndarray | None = None,
) -> np.ndarray:
    """Controls per face: the class's targets scaled by intensity, plus per-face jitter."""
    n = len(expressions)
    if intensity is None:
        intensity = rng.uniform(*options.intensity_range, n)
    target = _EXPRESSION_CONTROLS[expressions]
    controls = _NEUTRAL + (target - _NEUTRAL) * intensity[:, None]
    controls += rng.normal(0.0, options.control_jitter, controls.shape) * np.array(
        [0.4, 0.2, 0.15, 0.4, 0.4, 0.15, 0.2, 0.3], dtype=np.float32
    )
    # contempt is one-sided; which side is random
    side = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    controls[:, _CONTROLS.index("asym")] *= side
    return controls.astype(np.float32)


def sample_poses(rng: np.random.Generator, n: int, options: RenderOptions) -> dict[str, np.ndarray]:
    """Draw pose, lighting, noise and occlusion for ``n`` faces."""
    return {
        "angle": np.deg2rad(rng.uniform(-options.max_rotation_deg, options.max_rotation_deg, n)),
        "scale": rng.uniform(*options.scale_range, n),
        "shift": rng.uniform(-options.max_shift, options.max_shift, (n, 2)),
        "light": rng.uniform(-0.35, 0.35, n),
        "light_dir": rng.uniform(0, 2 * np.pi, n),
        "background": rng.uniform(0.0, 1.0, n),
        "bg_tint": rng.uniform(0.6, 1.0, (n, 3)),
        "noise": rng.uniform(*options.noise_range, n),
        "occluded": rng.uniform(size=n) < options.occlusion_prob,
        "occ_box": rng.uniform(-0.9, 0.9, (n, 4)),
        "occ_shade": rng.uniform(0.0, 1.0, n),
    }


def _soft(distance: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Anti-aliased inside-mask from a signed distance (negative inside)."""
    return np.clip(0.5 - distance / edge, 0.0, 1.0)


def _col(values: np.ndarray) -> np.ndarray:
    """Broadcast a per-face vector against (n, H, W) images."""
    return values[:, None, None]


def render(
    identities: dict[str, np.ndarray],
    controls: np.ndarray,
    poses: dict[str, np.ndarray],
    rng: np.random.Generator,
    options: RenderOptions,
) -> np.ndarray:
    """Render faces as uint8 arrays of shape (n, size, size) or (n, size, size, 3)."""
    size = options.size
    grid = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    v, u = np.meshgrid(grid, grid, indexing="ij")
    angle, scale, shift = _col(poses["angle"]), _col(poses["scale"]), poses["shift"]
    du, dv = u - _col(shift[:, 0]), v - _col(shift[:, 1])
    x = (np.cos(angle) * du + np.sin(angle) * dv) / scale
    y = (-np.sin(angle) * du + np.cos(angle) * dv) / scale
    edge = _col(2.5 / (size * poses["scale"]))
    c = {name: _col(controls[:, i]) for i, name in enumerate(_CONTROLS)}
    ident = {k: _col(v) for k, v in identities.items() if v.ndim == 1}

    face_r = np.sqrt((x / ident["face_w"]) ** 2 + (y / ident["face_h"]) ** 2)
    head = _soft((face_r - 1.0) * ident["face_w"], edge)
    # darkening marks: eyes, brows, nose, mouth, wrinkles; combined by maximum
    ink = np.zeros_like(x)
    ax = np.abs(x)
    eye_h = ident["eye_size"] * 0.62 * c["eye_open"]
    eye_r = np.sqrt(((ax - ident["eye_dx"]) / ident["eye_size"]) ** 2 + ((y - ident["eye_y"]) / eye_h) ** 2)
    ink = np.maximum(ink, 0.9 * _soft((eye_r - 1.0) * eye_h, edge))
    # brows: inner end (towards the nose) moves down for anger, up for sadness
    brow_len = ident["eye_size"] * 1.6
    inward = np.clip((ident["eye_dx"] - ax) / brow_len, -1.0, 1.0)
    brow_y = ident["eye_y"] - ident["eye_size"] * 1.5 - 0.07 * c["brow_raise"] + 0.05 * c["brow_tilt"] * inward
    brow = np.maximum(np.abs(y - brow_y) - 0.022, np.abs(ax - ident["eye_dx"]) - brow_len)
    ink = np.maximum(ink, 0.8 * _soft(brow, edge))
    # nose: a short ridge and nostrils; disgust wrinkles the bridge
    nose_y = (ident["eye_y"] + ident["mouth_y"]) / 2
    nostril = np.sqrt(((ax - 0.05) / 0.03) ** 2 + ((y - nose_y - 0.04) / 0.018) ** 2)
    ink = np.maximum(ink, 0.55 * _soft((nostril - 1.0) * 0.018, edge))
    wrinkle = np.maximum(np.abs((y - nose_y + 0.06) - 0.8 * (ax - 0.07)) - 0.012, np.abs(ax - 0.09) - 0.04)
    ink = np.maximum(ink, 0.6 * np.clip(c["wrinkle"], 0, 1) * _soft(wrinkle, edge))
    # mouth: a curved lip line, opened into a dark gap; asymmetry lifts one corner
    mouth_w = ident["mouth_w"] * c["width"]
    t = np.clip(x / mouth_w, -1.5, 1.5)
    bend = 0.09 * c["curve"]
    lip_y = ident["mouth_y"] + bend * (1 - t**2) - bend / 2 - 0.06 * c["asym"] * t
    gap = 0.14 * np.clip(c["open"], 0, None) * np.sqrt(np.clip(1 - t**2, 0, 1))
    inside_w = np.abs(x) - mouth_w
    lip_line = np.maximum(np.abs(y - lip_y) - 0.018, inside_w)
    opening = np.maximum(np.maximum(lip_y - gap / 2 - y, y - lip_y - gap / 2), inside_w)
    ink = np.maximum(ink, 0.85 * _soft(np.minimum(lip_line, opening), edge))
    ink *= head

    skin = _col(identities["skin"]) * (1 - 0.18 * np.clip(face_r, 0, 1) ** 2)  # rounded shading
    hair = (ident["hair"] > 0.5) & (y < -ident["face_h"] * 0.55 + 0.12 * np.abs(x))
    face = np.where(hair, ident["hair_shade"], skin) * (1 - ink)
    background = _col(poses["background"])
    grey = background + (face - background) * head
    light = 1 + _col(poses["light"]) * (np.cos(_col(poses["light_dir"])) * u + np.sin(_col(poses["light_dir"])) * v)
    grey = grey * light
    if poses["occluded"].any():
        box = poses["occ_box"]
        x0, x1 = _col(np.minimum(box[:, 0], box[:, 1])), _col(np.maximum(box[:, 0], box[:, 1]))
        y0, y1 = _col(np.minimum(box[:, 2], box[:, 3])), _col(np.maximum(box[:, 2], box[:, 3]))
        # keep occluders modest: at most about a third of the width
        x1 = np.minimum(x1, x0 + 0.6)
        y1 = np.minimum(y1, y0 + 0.6)
        inside = (u > x0) & (u < x1) & (v > y0) & (v < y1) & _col(poses["occluded"])
        grey = np.where(inside, _col(poses["occ_shade"]), grey)
    if options.rgb:
        tint = np.where(head[..., None] > 0.5, identities["tint"][:, None, None, :], poses["bg_tint"][:, None, None, :])
        image = grey[..., None] * tint
    else:
        image = grey
    image = image + rng.normal(0.0, 1.0, image.shape).astype(np.float32) * (
        poses["noise"].reshape((-1,) + (1,) * (image.ndim - 1))
    )
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render_faces(
    rng: np.random.Generator,
    expressions: np.ndarray,
    options: RenderOptions,
    identities: dict[str, np.ndarray] | None = None,
    intensity: np.ndarray | None = None,
    chunk: int = 512,
) -> np.ndarray:
    """Render one face per entry of ``expressions`` (indices into EXPRESSIONS), in chunks."""
    n = len(expressions)
    if identities is None:
        identities = sample_identities(rng, n)
    controls = expression_controls(rng, np.asarray(expressions, dtype=np.int64), options, intensity)
    poses = sample_poses(rng, n, options)
    parts = []
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        parts.append(
            render(
                {k: v[part] for k, v in identities.items()},
                controls[part],
                {k: v[part] for k, v in poses.items()},
                rng,
                options,
            )
        )
    shape = (0, options.size, options.size) + ((3,) if options.rgb else ())
    return np.concatenate(parts) if parts else np.zeros(shape, dtype=np.uint8)
