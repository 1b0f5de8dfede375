"""JAFFE: ``<subject>.<EXPR><n>.<id>.tiff``, the face cropped with OpenCV's Haar cascade."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ferpipe.readers.base import Records
from ferpipe.readers.tree import Layout, read_tree

if TYPE_CHECKING:
    from ferpipe.schema import Read

LAYOUT = Layout(name_pattern=r"^(?P<subject>[A-Z]{2})\.(?P<label>[A-Z]{2})\d*\.\d+\.tiff?$", face_crop=True)


def read_jaffe(folder: Path, cfg: Read) -> Records:
    """Every image of the tree, labelled as the layout says."""
    return read_tree(folder, cfg, LAYOUT)
