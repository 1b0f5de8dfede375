"""A corpus of broken input, one source folder per case, for the tests and for checking by hand.

    python -m tests.corpus /tmp/corpus     # writes the folders and prints what each should do

Point a source at a folder (``fetch: {kind: local, path: /tmp/corpus/images}`` with
``read: {format: image_folder}``) and run ``dvc repro prepare``: every bad item appears in
``metrics/skipped.csv`` with its file and row, or, with ``on_error: fail``, the stage stops
naming it. ``expected`` says which, per folder.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


def _pixels(offset: int) -> str:
    """A FER2013 pixels field, distinct per offset and not blank (prepare drops flat and repeated faces)."""
    return " ".join(str((i * (offset + 1)) % 251) for i in range(2304))


GOOD_PIXELS = _pixels(0)


@dataclass
class Case:
    """One source folder: its reader format, and either the items prepare must skip or the error it raises.

    ``skipped`` maps (file, row) to the start of the reason; row -1 stands for an image file.
    """

    format: str
    skipped: dict[tuple[str, int], str] = field(default_factory=dict)
    error: str = ""  # the SourceError's message contains this
    kept: int = 0  # images that survive prepare


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _images(folder: Path) -> Case:
    happy, smirk = folder / "happy", folder / "smirk"
    happy.mkdir(parents=True)
    smirk.mkdir()
    good = _jpeg()
    (happy / "good.jpg").write_bytes(good)
    (happy / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (happy / "zero.png").write_bytes(b"")
    (happy / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    gradient = Image.linear_gradient("L")  # distinct non-flat pictures, so cleaning keeps each one
    gradient.convert("RGBA").resize((64, 80)).save(happy / "rgba.png")
    gradient.rotate(90).convert("P").save(happy / "palette.png")
    Image.fromarray((np.arange(50 * 50, dtype=np.uint16) * 26).reshape(50, 50).T.copy()).save(happy / "deep16.png")
    # 14000 x 14000 one-bit pixels: a few kB of PNG, past PIL's decompression-bomb limit
    Image.new("1", (14000, 14000)).save(happy / "bomb.png", optimize=True)
    (smirk / "face.jpg").write_bytes(good)
    outside = folder.parent / "outside_the_source.jpg"  # a picture beside the source, reached by a link
    outside.write_bytes(good)
    (happy / "linked.jpg").symlink_to(outside)
    unreadable = ("truncated.jpg", "zero.png", "garbage.png", "bomb.png", "linked.jpg")
    skipped = {(f"happy/{name}", -1): "unreadable: " for name in unreadable}
    skipped[("smirk/face.jpg", -1)] = "unknown label 'smirk'"
    return Case("image_folder", skipped, kept=4)  # good, rgba, palette, deep16


def _csv_rows(folder: Path) -> Case:
    folder.mkdir(parents=True)
    rows = [
        f"3,{GOOD_PIXELS},Training",
        "3,1 2 3,Training",  # row 3: too short
        f"3,{GOOD_PIXELS[:-1]}x,Training",  # row 4: not numeric
        f"9,{GOOD_PIXELS},Training",  # row 5: label outside the map (read, then skipped at prepare)
        f"4,{' '.join(['99999999999999999999999'] * 2304)},Training",  # row 6: beyond int64
        f"0,{' '.join(reversed(GOOD_PIXELS.split()))},PublicTest",
        f"3,{GOOD_PIXELS},Training,extra",  # row 8: a fourth field
        f"3,{'1 ' * 70000},Training",  # row 9: a line past the readers' line limit
        "3",  # row 10: one field
    ]
    text = "emotion,pixels,Usage\n" + "\n".join(rows) + "\n"
    bad_byte = f"5,{GOOD_PIXELS},Train\xffing\n".encode("latin-1")  # row 11: not UTF-8
    (folder / "fer2013.csv").write_bytes(text.encode() + bad_byte)
    skipped = {
        ("fer2013.csv", 3): "3 pixel values, expected 2304",
        ("fer2013.csv", 4): "pixels are not integers",
        ("fer2013.csv", 5): "unknown label '9'",
        ("fer2013.csv", 6): "pixels are not integers",
        ("fer2013.csv", 8): "4 fields, expected 3",
        ("fer2013.csv", 9): "a line over 65536 characters",
        ("fer2013.csv", 10): "1 fields, expected 3",
        ("fer2013.csv", 11): "bytes that are not UTF-8 text",
    }
    return Case("fer2013_csv", skipped, kept=2)


def _csv_excel(folder: Path) -> Case:
    """Saved by Excel: a byte-order mark, CRLF line ends, quoted pixels, a blank last line."""
    folder.mkdir(parents=True)
    rows = ["emotion,pixels,Usage", f'3,"{_pixels(2)}",Training', f'0,"{_pixels(3)}",PublicTest', ""]
    (folder / "fer2013.csv").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    return Case("fer2013_csv", kept=2)


def _csv_stray_quote(folder: Path) -> Case:
    """A quote opened and never closed on row 3: it must not swallow rows 4 and 5."""
    folder.mkdir(parents=True)
    rows = [f"3,{_pixels(4)},Training", f'4,"{_pixels(5)},Training', f"5,{_pixels(6)},Training"]
    rows.append(f"6,{_pixels(7)},PublicTest")
    (folder / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return Case("fer2013_csv", {("fer2013.csv", 3): "2 fields, expected 3"}, kept=3)


def _one_file(name: str, data: bytes, error: str) -> Callable[[Path], Case]:
    """A case of one CSV that cannot be read as a whole: prepare stops with ``error``, naming the file."""

    def build(folder: Path) -> Case:
        folder.mkdir(parents=True)
        (folder / name).write_bytes(data)
        return Case("fer2013_csv", error=error)

    return build


GOOD_CSV = f"emotion,pixels,Usage\n3,{GOOD_PIXELS},Training\n".encode()
GZIPPED = gzip.compress(GOOD_CSV * 40, mtime=0)


def _empty(folder: Path) -> Case:
    (folder / "happy").mkdir(parents=True)
    return Case("image_folder", error="no images")


BUILDERS = {
    "images": _images,
    "csv_rows": _csv_rows,
    "csv_excel": _csv_excel,
    "csv_stray_quote": _csv_stray_quote,
    "csv_header": _one_file("fer2013.csv", GOOD_CSV.replace(b"emotion", b"label", 1), "header is"),
    "empty": _empty,
    "csv_empty": _one_file("fer2013.csv", b"", "fer2013.csv: empty file"),
    "gz_truncated": _one_file("fer2013.csv.gz", GZIPPED[: len(GZIPPED) // 2], "fer2013.csv.gz: cannot be read"),
    "gz_fake": _one_file("fer2013.csv.gz", GOOD_CSV, "fer2013.csv.gz: cannot be read"),  # not gzip at all
}
BROKEN = ("csv_header", "empty", "csv_empty", "gz_truncated", "gz_fake")  # the cases that are one error


def build_corpus(root: Path) -> dict[str, Case]:
    """Write every case under ``root/<name>``; returns what each must do."""
    return {name: build(root / name) for name, build in BUILDERS.items()}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for name, case in build_corpus(target).items():
        outcome = f"error containing {case.error!r}" if case.error else f"{case.kept} kept, skipped: {case.skipped}"
        print(f"{target / name} ({case.format}): {outcome}")
