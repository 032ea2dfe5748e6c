"""Perceptual hashes with imagehash-compatible values, computed in batches.

pHash follows ``imagehash.phash`` exactly: grey (``convert("L")``), Lanczos
resize to 32x32, 2-D DCT-II (``scipy.fftpack.dct``, applied along the batch's
pixel axes), the 8x8 low-frequency block compared with its median, bits packed
row-major with the first bit most significant. dHash follows ``imagehash.dhash``
(9x8 grey, horizontal differences). Hashes are ``uint64``; ``to_hex`` gives
imagehash's 16-character string.

Two decode paths: ``exact=True`` decodes every pixel (values identical to
imagehash on the same decoded image); the default fast path asks the JPEG
decoder for a reduced-size greyscale image (``Image.draft``, DCT scaling) and
lets Pillow pre-reduce other formats (``reducing_gap``), which is several times
faster and agrees with the exact hash within a few bits (see
benchmarks/README.md). EXIF orientation is applied in both paths so that a
rotated copy hashes like its original.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.fftpack
from PIL import Image, ImageOps

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.executors import Executor, Stage, get_executor
from web2sky_bench.io import images

HASH_KINDS = ("phash", "dhash")
PHASH_SIDE = 32  # hash_size 8 x highfreq_factor 4, as imagehash
DRAFT_SIDE = 128  # the fast path decodes JPEGs at the smallest DCT scale >= this
_HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
# Horizontal mirroring flips the sign of DCT coefficients with odd horizontal frequency.
_FLIP_SIGN = np.where(np.arange(8) % 2 == 1, -1.0, 1.0)[None, None, :]


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans, first bit most significant -> (n,) uint64 (imagehash's order)."""
    packed = np.packbits(np.asarray(bits, dtype=bool).reshape(len(bits), 64), axis=1)
    return packed.view(">u8").ravel().astype(np.uint64)


def to_hex(values: np.ndarray) -> list[str]:
    """uint64 hashes -> 16-digit lowercase hex strings, as ``str(imagehash.ImageHash)``."""
    return [f"{int(v):016x}" for v in np.asarray(values, dtype=np.uint64)]


def from_hex(values: Sequence[str]) -> np.ndarray:
    """16-digit hex strings -> uint64 hashes."""
    return np.array([int(v, 16) for v in values], dtype=np.uint64)


def phash_from_pixels(pixels: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """pHash of a batch of (n, 32, 32) grey images; also the mirrored images' hashes if ``flip``."""
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=1), axis=2)
    low = dct[:, :8, :8]
    med = np.median(low.reshape(len(low), 64), axis=1)[:, None, None]
    hashes = pack_bits((low > med).reshape(len(low), 64))
    if not flip:
        return hashes, None
    mirrored = low * _FLIP_SIGN
    med_m = np.median(mirrored.reshape(len(low), 64), axis=1)[:, None, None]
    return hashes, pack_bits((mirrored > med_m).reshape(len(low), 64))


def dhash_from_pixels(pixels: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """dHash of a batch of (n, 8, 9) grey images; also the mirrored images' hashes if ``flip``."""
    px = pixels.astype(np.int16)
    hashes = pack_bits((px[:, :, 1:] > px[:, :, :-1]).reshape(len(px), 64))
    if not flip:
        return hashes, None
    mx = px[:, :, ::-1]
    return hashes, pack_bits((mx[:, :, 1:] > mx[:, :, :-1]).reshape(len(px), 64))


def grey_for_hash(image: Image.Image, kind: str = "phash", exact: bool = True) -> np.ndarray:
    """The small grey array a hash is computed from (imagehash's resize, or a pre-reduced one)."""
    if image.mode in _HIGH_DEPTH_MODES:
        image, _ = images.normalise(image)
    size = (PHASH_SIDE, PHASH_SIDE) if kind == "phash" else (9, 8)
    grey = image.convert("L")
    if exact:
        small = grey.resize(size, Image.Resampling.LANCZOS)
    else:
        small = grey.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(small)


def load_for_hash(path: str | os.PathLike[str], kind: str = "phash", exact: bool = True) -> np.ndarray:
    """Decode a file (safely, EXIF-oriented) into the grey array its hash needs."""
    image, fmt = images.open_checked(path)
    with image:
        if not exact and fmt == "JPEG":
            image.draft("L", (DRAFT_SIDE, DRAFT_SIDE))
        images.load_pixels(image, path)
        if image.getexif().get(0x0112, 1) not in (1, None):
            image = ImageOps.exif_transpose(image)
        return grey_for_hash(image, kind, exact)


@dataclass
class HashResult:
    """Hashes of a list of files: ``ok[i]`` False where decoding failed (see ``errors``)."""

    hashes: np.ndarray  # uint64, 0 where not ok
    flipped: np.ndarray | None  # hashes of the mirrored images, when asked for
    ok: np.ndarray  # bool
    errors: dict[int, str]


def _hash_chunk(args: tuple[list[str], int, str, bool, bool]) -> tuple[int, np.ndarray, np.ndarray | None, np.ndarray, dict[int, str]]:
    paths, offset, kind, exact, flip = args
    side = (PHASH_SIDE, PHASH_SIDE) if kind == "phash" else (8, 9)
    pixels = np.zeros((len(paths), *side), dtype=np.uint8)
    ok = np.zeros(len(paths), dtype=bool)
    errors: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            pixels[i] = load_for_hash(path, kind, exact)
            ok[i] = True
        except images.ImageDecodeError as exc:
            errors[offset + i] = f"{exc.reason}: {exc}"
        except Exception as exc:  # a decoder bug must not stop a long hashing run
            errors[offset + i] = f"unreadable: {path}: {type(exc).__name__}: {exc}"
    fn = phash_from_pixels if kind == "phash" else dhash_from_pixels
    hashes, flipped = fn(pixels, flip)
    hashes[~ok] = 0
    if flipped is not None:
        flipped[~ok] = 0
    return offset, hashes, flipped, ok, errors


def hash_batch(batch: pd.DataFrame, kind: str = "phash", exact: bool = False, flip: bool = False) -> pd.DataFrame:
    """Per-batch form of :func:`_hash_chunk` for the executors: a ``path`` column -> hash columns."""
    _, hashes, flipped, ok, errors = _hash_chunk((batch["path"].tolist(), 0, kind, exact, flip))
    return pd.DataFrame({
        "hash": hashes,
        "flipped": flipped if flipped is not None else np.zeros(len(hashes), np.uint64),
        "ok": ok,
        "error": [errors.get(i, "") for i in range(len(hashes))],
    })


def hash_files(
    paths: Sequence[str | os.PathLike[str]],
    kind: str = "phash",
    exact: bool = False,
    flip: bool = False,
    workers: int | None = None,
    chunk: int = 128,
    quiet: bool = False,
    executor: Executor | None = None,
) -> HashResult:
    """Hash many files in chunks (vectorised DCT per chunk) on ``executor`` (default: ``workers`` processes)."""
    if kind not in HASH_KINDS:
        raise Web2SkyError(f"unknown hash {kind!r}; choose one of {', '.join(HASH_KINDS)}")
    n = len(paths)
    if n == 0:
        return HashResult(np.zeros(0, np.uint64), np.zeros(0, np.uint64) if flip else None, np.zeros(0, bool), {})
    executor = executor or get_executor("local", workers=workers)
    out = executor.map_batches(Stage(hash_batch, {"kind": kind, "exact": exact, "flip": flip}),
                               pd.DataFrame({"path": [str(p) for p in paths]}), chunk, desc=kind, quiet=quiet)
    errors = {i: e for i, e in enumerate(out["error"]) if e}
    flipped = out["flipped"].to_numpy(np.uint64) if flip else None
    return HashResult(out["hash"].to_numpy(np.uint64), flipped, out["ok"].to_numpy(bool), errors)
