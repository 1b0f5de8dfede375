"""Safe archive extraction: no member may escape the target, be a link, or be absurdly big."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath

DEFAULT_MAX_BYTES = 8 * 1024**3


class UnsafeArchiveError(ValueError):
    """An archive holds a member we refuse to extract."""


def _check_name(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {name!r} would escape the target folder")


def extract_archive(archive: Path, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Extract a ``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz`` into ``dest`` after checking every member."""
    archive = Path(archive)
    total = 0
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_name(archive, info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link")
                total += info.file_size
                if total > max_bytes:
                    raise UnsafeArchiveError(f"{archive}: unpacks to more than {max_bytes} bytes")
            zf.extractall(dest)
        return
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                _check_name(archive, member.name)
                if not (member.isfile() or member.isdir()):
                    raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a link or device")
                total += member.size
                if total > max_bytes:
                    raise UnsafeArchiveError(f"{archive}: unpacks to more than {max_bytes} bytes")
            tf.extractall(dest, members=members, filter="data")
    except tarfile.ReadError as exc:
        raise ValueError(f"{archive}: not a readable zip or tar archive: {exc}") from exc
