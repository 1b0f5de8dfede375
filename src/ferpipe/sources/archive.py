"""Safe archive extraction: no member may escape the target, be a link, or be absurdly big or compressed."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath

DEFAULT_MAX_BYTES = 8 * 1024**3
# Photos and pixel CSVs compress a few times at most; a zip bomb compresses a thousand times.
DEFAULT_MAX_RATIO = 100
RATIO_CHECKED_ABOVE = 64 * 1024**2  # small archives may compress far better and harm nothing


class UnsafeArchiveError(ValueError):
    """An archive holds a member we refuse to extract."""


def _check_name(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {name!r} would escape the target folder")


def extract_archive(
    archive: Path, dest: Path, max_bytes: int = DEFAULT_MAX_BYTES, max_ratio: int = DEFAULT_MAX_RATIO
) -> None:
    """Extract a ``.zip``, ``.tar``, ``.tar.gz`` or ``.tgz`` into ``dest`` after checking every member.

    Refused: members that escape ``dest`` or are links, more than ``max_bytes`` unpacked, and
    (past 64 MiB) more than ``max_ratio`` times the archive's own size. A corrupt or truncated
    archive is one ValueError naming it.
    """
    archive = Path(archive)
    limit = _Limit(archive, max_bytes, max_ratio)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_name(archive, info.filename)
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link")
                    limit.add(info.file_size)
                zf.extractall(dest)
            return
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                _check_name(archive, member.name)
                if not (member.isfile() or member.isdir()):
                    raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a link or device")
                limit.add(member.size)
            tf.extractall(dest, members=members, filter="data")
    except UnsafeArchiveError:
        raise
    except Exception as exc:  # zipfile and tarfile raise many types (BadZipFile, RuntimeError, OSError, ...)
        raise ValueError(
            f"{archive}: not a readable zip or tar archive (corrupt, truncated or encrypted?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


class _Limit:
    """The running unpacked size of an archive, against the total and the ratio caps."""

    def __init__(self, archive: Path, max_bytes: int, max_ratio: int) -> None:
        self.archive, self.max_bytes, self.max_ratio, self.total = archive, max_bytes, max_ratio, 0
        self.max_by_ratio = max(max_ratio * archive.stat().st_size, RATIO_CHECKED_ABOVE)

    def add(self, size: int) -> None:
        self.total += size
        if self.total > self.max_bytes:
            raise UnsafeArchiveError(f"{self.archive}: unpacks to more than {self.max_bytes} bytes")
        if self.total > self.max_by_ratio:
            raise UnsafeArchiveError(
                f"{self.archive}: unpacks to more than {self.max_ratio} times its own size (a zip bomb?);"
                " raise the source's max_ratio if the archive is genuine"
            )
