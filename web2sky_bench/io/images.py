"""Safe image decoding: sniff the bytes, refuse bombs, apply EXIF, normalise modes.

:func:`decode` never lets a malformed file crash a run: every failure becomes
an :class:`ImageDecodeError` whose ``reason`` is one short issue name
(``zero_byte``, ``not_an_image``, ``truncated``, ``unreadable``,
``decompression_bomb``, ``missing_file``) and whose message says what was found.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from web2sky_bench.errors import Web2SkyError

#: Images with more pixels than this are refused before their pixels are decoded.
MAX_PIXELS = 64_000_000

# Magic bytes -> format name, for sniffing what a file really is.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"WEBP", 8, "WEBP"),
)
_EXTENSIONS = {
    "JPEG": {".jpg", ".jpeg", ".jpe", ".jfif"},
    "PNG": {".png"},
    "GIF": {".gif"},
    "BMP": {".bmp"},
    "TIFF": {".tif", ".tiff"},
    "WEBP": {".webp"},
}
# What a non-image file probably is, for a helpful message.
_NOT_IMAGE_HINTS: tuple[tuple[bytes, str], ...] = (
    (b"<!doctype html", "an HTML page"),
    (b"<html", "an HTML page"),
    (b"<?xml", "an XML/SVG document"),
    (b"<svg", "an SVG document"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "gzip data"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"{", "JSON text"),
)


class ImageDecodeError(Web2SkyError):
    """A file that cannot be used as an image; ``reason`` is the issue name."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class Decoded:
    """A decoded image (RGB, EXIF orientation applied) and what was done to get it."""

    image: Image.Image
    format: str
    original_mode: str
    frames: int = 1
    notes: list[str] = field(default_factory=list)


def sniff(head: bytes) -> str | None:
    """The image format named by the magic bytes at the start of a file, or None."""
    for magic, offset, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if name == "WEBP" and head[:4] != b"RIFF":
                continue
            return name
    return None


def _describe_non_image(head: bytes) -> str:
    text = head.lstrip().lower()
    for magic, what in _NOT_IMAGE_HINTS:
        if text.startswith(magic.lower()):
            return what
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head[:256])
    if head and printable / min(len(head), 256) > 0.95:
        return "text"
    return "unrecognised bytes"


def open_checked(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> tuple[Image.Image, str]:
    """Open an image lazily after checking existence, size, magic bytes and pixel count.

    Returns the (not yet loaded) PIL image and its sniffed format. Raises
    :class:`ImageDecodeError` for a missing, empty, non-image or bomb file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageDecodeError("missing_file", f"{path}: file not found") from None
    if size == 0:
        raise ImageDecodeError("zero_byte", f"{path}: file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(512)
    fmt = sniff(head)
    if fmt is None:
        raise ImageDecodeError(
            "not_an_image", f"{path}: not an image ({_describe_non_image(head)}, {size} bytes)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)  # Pillow's own bomb check raises only far above MAX_PIXELS
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError("decompression_bomb", f"{path}: {exc}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("unreadable", f"{path}: {fmt} magic bytes but Pillow cannot parse the header") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = "truncated" if "truncat" in str(exc).lower() or isinstance(exc, EOFError) else "unreadable"
        raise ImageDecodeError(reason, f"{path}: {fmt} header cannot be read ({exc})") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise ImageDecodeError("unreadable", f"{path}: header declares an empty {width}x{height} image")
    if width * height > max_pixels:
        image.close()
        raise ImageDecodeError(
            "decompression_bomb",
            f"{path}: header declares {width}x{height} = {width * height:,} pixels "
            f"(limit {max_pixels:,}); refusing to decode",
        )
    return image, fmt


def load_pixels(image: Image.Image, path: str | os.PathLike[str]) -> None:
    """Decode the pixels of a lazily opened image; truncation/corruption -> ImageDecodeError."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        text = str(exc)
        truncated = "truncat" in text.lower() or "broken data stream" in text or isinstance(exc, EOFError)
        reason = "truncated" if truncated else "unreadable"
        raise ImageDecodeError(reason, f"{path}: pixel data cannot be decoded ({text or type(exc).__name__})") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - guarded by open_checked
        raise ImageDecodeError("decompression_bomb", f"{path}: {exc}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def normalise(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """Convert any Pillow mode to 8-bit RGB; return the image and notes on what changed.

    16-bit and 32-bit integer or float images are rescaled by their range, CMYK
    and YCbCr go through Pillow's converters, palette and alpha images are
    composited on white.
    """
    mode = image.mode
    notes: list[str] = []
    if mode == "RGB":
        return image, notes
    notes.append(f"mode:{mode}")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        gray = Image.fromarray(np.clip((arr - lo) * scale, 0, 255).round().astype(np.uint8), "L")
        return gray.convert("RGB"), notes
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "La", "PA"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background, notes
    return image.convert("RGB"), notes


def decode(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode an image file safely: checked header, full pixel load, EXIF orientation, RGB.

    Raises :class:`ImageDecodeError` (with ``reason``) for anything unusable.
    """
    image, fmt = open_checked(path, max_pixels)
    with image:
        frames = int(getattr(image, "n_frames", 1) or 1)
        load_pixels(image, path)
        original_mode = image.mode
        notes: list[str] = []
        try:
            orientation = image.getexif().get(0x0112, 1)
        except Exception:  # a broken EXIF block is not worth failing the image for
            orientation = 1
            notes.append("exif:unreadable")
        if orientation not in (1, None):
            image_t = ImageOps.exif_transpose(image)
            notes.append(f"exif:orientation={orientation}")
        else:
            image_t = image.copy()
        rgb, mode_notes = normalise(image_t)
    return Decoded(rgb, fmt, original_mode, frames, notes + mode_notes)


def extension_matches(path: str | os.PathLike[str], fmt: str) -> bool:
    """Whether a file's extension fits its sniffed format (unknown extensions pass)."""
    ext = Path(path).suffix.lower()
    known = set().union(*_EXTENSIONS.values())
    return ext not in known or ext in _EXTENSIONS.get(fmt, set())
