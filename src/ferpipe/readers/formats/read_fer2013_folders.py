"""FER2013's image release, ``{train,test}/<class>/<Usage>_<n>.jpg``: the usage from the file name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ferpipe.readers.base import Records
from ferpipe.readers.tree import Layout, read_tree

if TYPE_CHECKING:
    from ferpipe.schema import Read

LAYOUT = Layout(name_pattern=r"^(?P<usage>Training|PublicTest|PrivateTest)_")


def read_fer2013_folders(folder: Path, cfg: Read) -> Records:
    """Every image of the tree, labelled as the layout says."""
    return read_tree(folder, cfg, LAYOUT)
