#!/usr/bin/env python3
"""Generate the malformed-image fixture: one file per kind of broken or poor image.

``generate(out_dir)`` writes the files under ``out_dir/images`` and returns
{file name: expected issue name} (None for files that must come out clean,
with only a normalisation note). Run as a script to (re)create the fixture
next to this file and print its checksum.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def photo(size=(160, 120), seed=0) -> Image.Image:
    """A photo-like RGB image: gradients, blobs and noise (passes every quality check)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (x / w - 0.5) + np.sin(angle) * (y / h - 0.5))[..., None]
    base = rng.uniform(60, 200, 3) + ramp * rng.uniform(-200, 200, 3)
    for _ in range(int(rng.integers(4, 10))):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1, max(2.0, min(w, h) / 3))
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        base[mask] = rng.uniform(0, 255, 3)
    base += rng.normal(0, 12, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(width=40_000, height=40_000) -> bytes:
    """A PNG whose header declares 1.6 gigapixels (only the first rows are present)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + width // 8) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _exif_rotated() -> bytes:
    image = photo((160, 96), seed=7)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    return _encode(image, "JPEG", quality=90, exif=exif.tobytes())


def files() -> dict[str, tuple[bytes | None, str | None]]:
    """{name: (bytes or None for a missing file, expected issue or None)}."""
    jpeg = _encode(photo(seed=1), "JPEG", quality=90)
    png = _encode(photo(seed=2), "PNG")
    gif = _encode(photo(seed=3).convert("P"), "GIF")
    corrupt_idat = bytearray(png)
    mid = len(corrupt_idat) // 2
    corrupt_idat[mid : mid + 64] = bytes(range(64))
    bad_ihdr = bytearray(png)
    bad_ihdr[16:24] = b"\xff" * 8  # width/height fields, CRC no longer matches
    bmp = bytearray(_encode(photo(seed=4), "BMP"))
    bmp[10:14] = struct.pack("<I", 10**9)  # pixel data offset far beyond the file
    tiff = _encode(photo(seed=5), "TIFF")
    webp = _encode(photo(seed=6), "WEBP", quality=80)
    frames = [photo(seed=10 + i) for i in range(3)]
    anim_gif = io.BytesIO()
    frames[0].save(anim_gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    anim_png = io.BytesIO()
    frames[0].save(anim_png, "PNG", save_all=True, append_images=frames[1:], duration=100)
    gray = photo(seed=8).convert("L").convert("RGB")
    dark = Image.fromarray((np.asarray(photo(seed=9), dtype=np.float64) * 0.12).astype(np.uint8))
    bright = Image.fromarray((255 - np.asarray(photo(seed=11), dtype=np.float64) * 0.05).astype(np.uint8))
    flat = Image.new("RGB", (160, 120), (90, 140, 60))
    blurry = Image.fromarray(np.asarray(photo(seed=12)).copy()).filter(ImageFilter.GaussianBlur(6))
    cmyk = photo(seed=13).convert("CMYK")
    deep = Image.fromarray(np.asarray(photo(seed=14).convert("L"), dtype=np.uint16) * 257)
    pal = photo(seed=15).convert("P", palette=Image.Palette.ADAPTIVE)
    return {
        "zero_byte.jpg": (b"", "zero_byte"),
        "html_page.jpg": (b"<!DOCTYPE html><html><body>403 Forbidden</body></html>\n", "not_an_image"),
        "plain_text.png": (b"this is not an image, just some text\n" * 4, "not_an_image"),
        "vector.png": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "not_an_image"),
        "document.jpg": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", "not_an_image"),
        "compressed.jpg": (gzip.compress(jpeg), "not_an_image"),
        "random_bytes.jpg": (np.random.default_rng(0).bytes(4096), "not_an_image"),
        "truncated_half.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "header_only.jpg": (jpeg[:300], "truncated"),
        "truncated.png": (png[: len(png) // 2], "truncated"),
        "corrupt_idat.png": (bytes(corrupt_idat), "unreadable"),
        "bad_ihdr.png": (bytes(bad_ihdr), "unreadable"),
        "bomb.png": (_bomb_png(), "decompression_bomb"),
        "truncated.gif": (gif[: len(gif) // 3], "truncated"),
        "bad_offset.bmp": (bytes(bmp), "truncated"),
        "truncated.tif": (tiff[: len(tiff) // 2], "truncated"),
        "truncated.webp": (webp[: len(webp) // 2], "unreadable"),
        "tiny.png": (_encode(photo((10, 10), seed=16), "PNG"), "too_small"),
        "strip.png": (_encode(photo((400, 40), seed=17), "PNG"), "odd_aspect"),
        "grayscale.jpg": (_encode(gray, "JPEG", quality=95), "grayscale"),
        "dark.png": (_encode(dark, "PNG"), "too_dark"),
        "bright.png": (_encode(bright, "PNG"), "too_bright"),
        "flat.png": (_encode(flat, "PNG"), "low_information"),
        "blurry.png": (_encode(blurry, "PNG"), "blurry"),
        "animated.gif": (anim_gif.getvalue(), "animated"),
        "animated.png": (anim_png.getvalue(), "animated"),
        "png_bytes.jpg": (png, "wrong_extension"),
        "exif_rotated.jpg": (_exif_rotated(), "size_mismatch"),
        "missing.jpg": (None, "missing_file"),
        "cmyk.jpg": (_encode(cmyk, "JPEG", quality=95), None),
        "deep16.png": (_encode(deep, "PNG"), "grayscale"),
        "palette.png": (_encode(pal, "PNG", transparency=0), None),
        "good.jpg": (jpeg, None),
    }


def generate(out_dir: Path) -> dict[str, str | None]:
    """Write the fixture under ``out_dir/images``; return {name: expected issue}."""
    images = Path(out_dir) / "images"
    images.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (data, issue) in files().items():
        if data is not None:
            (images / name).write_bytes(data)
        expected[name] = issue
    return expected


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    generate(here)
    digest = hashlib.sha256()
    for path in sorted((here / "images").iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    print(f"{len(list((here / 'images').iterdir()))} files, sha256 {digest.hexdigest()}", file=sys.stdout)
