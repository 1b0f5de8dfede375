"""CK+ (CK+48): class folders, the subject from ``S<subject>_<sequence>_<frame>.png``.

Every frame of a sequence is one image; the subject keeps a sequence's frames on one side of a split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ferpipe.readers.base import Records
from ferpipe.readers.tree import Layout, read_tree

if TYPE_CHECKING:
    from ferpipe.schema import Read

LAYOUT = Layout(name_pattern=r"^(?P<subject>S\d+)_")


def read_ckplus(folder: Path, cfg: Read) -> Records:
    """Every image of the tree, labelled as the layout says."""
    return read_tree(folder, cfg, LAYOUT)
