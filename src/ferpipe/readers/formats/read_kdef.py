"""KDEF: ``<session><gender><id><EXPR><angle>.JPG`` (e.g. ``AF01ANS.JPG``), frontal faces by default."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ferpipe.readers.base import Records
from ferpipe.readers.tree import Layout, read_tree

if TYPE_CHECKING:
    from ferpipe.schema import Read

KDEF_CODES = {
    "AF": "fear",
    "AN": "angry",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
LAYOUT = Layout(
    name_pattern=r"^[AB](?P<subject>[FM]\d{2})(?P<label>AF|AN|DI|HA|NE|SA|SU)(?P<angle>S|HL|HR|FL|FR)\.",
    code_map=KDEF_CODES,
    face_crop=True,
    angles=("S",),
)


def read_kdef(folder: Path, cfg: Read) -> Records:
    """Every image of the tree, labelled as the layout says."""
    return read_tree(folder, cfg, LAYOUT)
