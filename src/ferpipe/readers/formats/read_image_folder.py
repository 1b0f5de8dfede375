"""A generic tree ``.../<class>/<image>`` (Google-FER-style sets, generic folders): the label is the folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ferpipe.readers.base import Records
from ferpipe.readers.tree import Layout, read_tree

if TYPE_CHECKING:
    from ferpipe.schema import Read

LAYOUT = Layout()


def read_image_folder(folder: Path, cfg: Read) -> Records:
    """Every image of the tree, labelled as the layout says."""
    return read_tree(folder, cfg, LAYOUT)
