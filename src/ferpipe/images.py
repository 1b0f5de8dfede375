"""Opening untrusted pictures: one opener for the readers, ``ferpipe predict`` and the served model.

Every path that decodes a picture someone else made goes through :func:`open_picture`, so all of
them agree on two things a picture can lie about:

- its size: the header is read first and a picture claiming more than ``max_pixels`` is refused
  before a single pixel is decoded (a 481 KB PNG can claim 13000x13000 and cost gigabytes once
  decoded; PIL's own bomb limit, 179 MP, is far above what a face needs);
- its orientation: the EXIF orientation tag is applied, so a phone photo stored sideways is the
  upright face in training and in serving alike.

Whatever goes wrong while decoding (PIL raises many exception types on corrupt files) becomes one
:class:`UnreadablePicture` naming the problem.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps

from ferpipe.choices import DEFAULT_MAX_PIXELS

MAX_PIXELS_ENV = "FERPIPE_MAX_IMAGE_PIXELS"  # predict and the served model; readers take read.max_pixels


class UnreadablePicture(ValueError):
    """A picture that cannot be used: not an image, truncated, corrupt or too large."""


def max_pixels_setting() -> int:
    """The pixel cap for predict and serving: ``FERPIPE_MAX_IMAGE_PIXELS`` or the default."""
    raw = os.environ.get(MAX_PIXELS_ENV, "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{MAX_PIXELS_ENV}={raw!r}: expected a whole number of pixels") from None
    if value <= 0:
        raise ValueError(f"{MAX_PIXELS_ENV}={raw!r}: expected a positive number of pixels")
    return value


def open_picture(source: Path | bytes, max_pixels: int | None = None) -> Image.Image:
    """The decoded picture, upright by its EXIF orientation.

    Raises :class:`UnreadablePicture` for anything that is not a usable picture, including one
    whose header claims more than ``max_pixels`` (default: :func:`max_pixels_setting`).
    """
    limit = max_pixels_setting() if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():  # PIL's bomb warning: the size is checked here, against our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        with image:
            width, height = image.size
            if width * height > limit:
                raise UnreadablePicture(
                    f"{width}x{height} pixels ({width * height / 1e6:.0f} MP), over the limit of {limit / 1e6:g} MP "
                    f"(read.max_pixels for a source, {MAX_PIXELS_ENV} for predict and serving)"
                )
            upright = ImageOps.exif_transpose(image)
            upright.load()
            return upright
    except (UnreadablePicture, FileNotFoundError):
        raise
    except Exception as exc:  # PIL raises many types on corrupt input (SyntaxError, struct.error...)
        raise UnreadablePicture(f"not a readable image ({type(exc).__name__}: {exc})") from exc
