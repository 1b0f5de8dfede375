"""The canonical 7 expression classes and how each source's label names map onto them.

Every source names its classes differently (CK+ says ``anger`` and ``sadness``, FER2013
uses integers, Google FER adds ``contempt``). One alias table maps them all; a source may
override it with its own ``label_map`` in params.
"""

from __future__ import annotations

from collections.abc import Mapping

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASSES)

# Names that mean a canonical class. ``None`` means "known, but not one of ours: drop it".
ALIASES: dict[str, str | None] = {
    **{name: name for name in CLASSES},
    "anger": "angry",
    "an": "angry",
    "disgusted": "disgust",
    "di": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "fe": "fear",
    "happiness": "happy",
    "ha": "happy",
    "sadness": "sad",
    "sa": "sad",
    "surprised": "surprise",
    "su": "surprise",
    "ne": "neutral",
    "contempt": None,
    # AffectNet's codes 8-10: not an expression of the 7 (prepare drops them and counts them)
    "none": None,
    "uncertain": None,
    "no-face": None,
    # FER+'s winners that are not an expression: no majority, and not a face
    "unknown": None,
    "nf": None,
}

# FER2013's integer labels are already in canonical order.
FER2013_LABELS: dict[str, str] = {str(i): name for i, name in enumerate(CLASSES)}


class UnknownLabelError(ValueError):
    """A label that neither the alias table nor the source's label map knows."""


def canonical_index(raw: str | int, label_map: Mapping[str, str | None] | None = None) -> int | None:
    """Map a source's raw label to a class index, or ``None`` for a label we drop (contempt).

    Raises UnknownLabelError for a label nobody declared, so typos never silently vanish.
    """
    key = str(raw).strip().lower()
    table = {k.lower(): v for k, v in (label_map or {}).items()} if label_map else {}
    if key in table:
        name = table[key]
    elif key in ALIASES:
        name = ALIASES[key]
    else:
        raise UnknownLabelError(f"unknown label {raw!r}")
    if name is None:
        return None
    name = ALIASES.get(str(name).lower(), name)
    if name not in CLASSES:
        raise UnknownLabelError(f"label {raw!r} maps to {name!r}, which is not one of {CLASSES}")
    return CLASSES.index(name)
