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

With ``crops=True`` each image also gets the hashes of nine 95 % crops, so
that a copy cropped by up to 10 % still matches (see :func:`crop_boxes`).
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
DRAFT_SIDE = 64  # the fast path decodes JPEGs at the smallest DCT scale >= this
# Crop-tolerant matching: hashes of nine crops of 95 % size on a 3x3 grid. A copy
# cropped by up to 10 % per side-pair lies within a few pixels of one of them.
CROP_FRACTION = 0.95
CROP_POSITIONS = (0.0, 0.5, 1.0)
N_CROPS = len(CROP_POSITIONS) ** 2
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
    size = (PHASH_SIDE, PHASH_SIDE) if kind == "phash" else (9, 8)
    grey = _grey(image)
    if exact:
        small = grey.resize(size, Image.Resampling.LANCZOS)
    else:
        small = grey.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(small)


def crop_boxes(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The :data:`CROP_FRACTION`-sized boxes on a 3x3 grid of positions (corners, edges, centre)."""
    cw, ch = width * CROP_FRACTION, height * CROP_FRACTION
    boxes = []
    for fy in CROP_POSITIONS:
        for fx in CROP_POSITIONS:
            x0, y0 = (width - cw) * fx, (height - ch) * fy
            boxes.append((round(x0), round(y0), round(x0 + cw), round(y0 + ch)))
    return boxes


def crop_arrays(image: Image.Image, kind: str = "phash", exact: bool = True) -> np.ndarray:
    """Grey hash inputs of the :func:`crop_boxes` crops, shape (9, h, w)."""
    grey = _grey(image)
    return np.stack([grey_for_hash(grey.crop(box), kind, exact) for box in crop_boxes(*grey.size)])


def _grey(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_DEPTH_MODES:
        image, _ = images.normalise(image)
    return image if image.mode == "L" else image.convert("L")


def load_grey(path: str | os.PathLike[str], exact: bool = True) -> Image.Image:
    """Decode a file (safely, EXIF-oriented) to a grey image; reduced-size JPEG decode unless ``exact``."""
    image, fmt = images.open_checked(path)
    with image:
        if not exact and fmt == "JPEG":
            image.draft("L", (DRAFT_SIDE, DRAFT_SIDE))
        images.load_pixels(image, path)
        if image.getexif().get(0x0112, 1) not in (1, None):
            image = ImageOps.exif_transpose(image)
        return _grey(image)


@dataclass
class HashResult:
    """Hashes of a list of files: ``ok[i]`` False where decoding failed (see ``errors``).

    ``flipped`` holds the mirrored images' hashes, ``crops`` (n, 9) the crop
    hashes and ``crops_flipped`` the mirrored crops' hashes, when asked for.
    ``second`` holds the same set for a second hash kind (``second_kind``),
    computed from the same decoded images, used to verify candidate pairs.
    """

    hashes: np.ndarray  # uint64, 0 where not ok
    flipped: np.ndarray | None
    ok: np.ndarray  # bool
    errors: dict[int, str]
    crops: np.ndarray | None = None
    crops_flipped: np.ndarray | None = None
    second: HashResult | None = None

    @classmethod
    def empty(cls, n: int, flip: bool, crops: bool) -> HashResult:
        """Zeroed arrays for ``n`` files."""
        return cls(
            np.zeros(n, dtype=np.uint64),
            np.zeros(n, dtype=np.uint64) if flip else None,
            np.zeros(n, dtype=bool),
            {},
            np.zeros((n, N_CROPS), dtype=np.uint64) if crops else None,
            np.zeros((n, N_CROPS), dtype=np.uint64) if crops and flip else None,
        )

    def put(self, part: slice | np.ndarray, other: HashResult) -> None:
        """Copy ``other``'s rows into rows ``part`` (also the second kind)."""
        self.hashes[part], self.ok[part] = other.hashes, other.ok
        for name in ("flipped", "crops", "crops_flipped"):
            target = getattr(self, name)
            if target is not None:
                target[part] = getattr(other, name)
        if self.second is not None and other.second is not None:
            self.second.put(part, other.second)


def _side(kind: str) -> tuple[int, int]:
    return (PHASH_SIDE, PHASH_SIDE) if kind == "phash" else (8, 9)


def _hash_pixels(kind: str, pixels: np.ndarray, crop_pixels: np.ndarray | None, flip: bool,
                 ok: np.ndarray) -> HashResult:
    fn = phash_from_pixels if kind == "phash" else dhash_from_pixels
    n = len(pixels)
    out = HashResult(*fn(pixels, flip), ok, {})
    if crop_pixels is not None:
        c, cf = fn(crop_pixels.reshape(n * N_CROPS, *_side(kind)), flip)
        out.crops = c.reshape(n, N_CROPS)
        out.crops_flipped = cf.reshape(n, N_CROPS) if cf is not None else None
    for name in ("hashes", "flipped", "crops", "crops_flipped"):
        values = getattr(out, name)
        if values is not None:
            values[~ok] = 0
    return out


def _hash_chunk(args: tuple[list[str], int, str, bool, bool, bool, str | None]) -> tuple[int, HashResult]:
    paths, offset, kind, exact, flip, crops, second_kind = args
    kinds = [kind] + ([second_kind] if second_kind else [])
    n = len(paths)
    pixels = {k: np.zeros((n, *_side(k)), dtype=np.uint8) for k in kinds}
    crop_pixels = {k: np.zeros((n, N_CROPS, *_side(k)), dtype=np.uint8) for k in kinds} if crops else None
    ok = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}
    for i, path in enumerate(paths):
        try:
            grey = load_grey(path, exact)
            for k in kinds:
                pixels[k][i] = grey_for_hash(grey, k, exact)
                if crops:
                    crop_pixels[k][i] = crop_arrays(grey, k, exact)
            ok[i] = True
        except images.ImageDecodeError as exc:
            errors[offset + i] = f"{exc.reason}: {exc}"
        except Exception as exc:  # a decoder bug must not stop a long hashing run
            errors[offset + i] = f"unreadable: {path}: {type(exc).__name__}: {exc}"
    result = _hash_pixels(kind, pixels[kind], crop_pixels[kind] if crops else None, flip, ok)
    result.errors = errors
    if second_kind:
        result.second = _hash_pixels(second_kind, pixels[second_kind],
                                     crop_pixels[second_kind] if crops else None, flip, ok)
    return offset, result


_FIELDS = ("hashes", "flipped", "crops", "crops_flipped")


def _to_columns(result: HashResult, prefix: str = "") -> dict[str, list[bytes]]:
    n = len(result.ok)
    return {prefix + name: [row.tobytes() for row in getattr(result, name).reshape(n, -1)]
            for name in _FIELDS if getattr(result, name) is not None}


def _from_columns(table: pd.DataFrame, flip: bool, crops: bool, prefix: str = "") -> HashResult:
    out = HashResult.empty(len(table), flip, crops)
    for name in _FIELDS:
        target = getattr(out, name)
        if target is not None:
            target[:] = np.frombuffer(b"".join(table[prefix + name]), np.uint64).reshape(target.shape)
    out.ok[:] = table["ok"].to_numpy(bool)
    return out


def hash_batch(batch: pd.DataFrame, kind: str = "phash", exact: bool = False, flip: bool = False,
               crops: bool = False, second_kind: str | None = None) -> pd.DataFrame:
    """Per-batch form of :func:`_hash_chunk` for the executors: a ``path`` column -> one row of hashes per
    file (``ok``, ``error`` and each hash array as uint64 bytes; ``second_*`` for ``second_kind``)."""
    _, result = _hash_chunk((batch["path"].tolist(), 0, kind, exact, flip, crops, second_kind))
    columns = {"ok": result.ok, "error": [result.errors.get(i, "") for i in range(len(result.ok))]}
    columns.update(_to_columns(result))
    if result.second is not None:
        columns.update(_to_columns(result.second, "second_"))
    return pd.DataFrame(columns)


def hash_files(
    paths: Sequence[str | os.PathLike[str]],
    kind: str = "phash",
    exact: bool = False,
    flip: bool = False,
    crops: bool = False,
    second_kind: str | None = None,
    workers: int | None = None,
    chunk: int = 128,
    quiet: bool = False,
    executor: Executor | None = None,
) -> HashResult:
    """Hash many files in chunks (vectorised DCT per chunk) on ``executor`` (default: ``workers`` processes).

    ``second_kind`` (e.g. ``"dhash"``) also computes a second hash of every
    variant from the same decoded image, in ``result.second``.
    """
    for k in (kind, second_kind or kind):
        if k not in HASH_KINDS:
            raise Web2SkyError(f"unknown hash {k!r}; choose one of {', '.join(HASH_KINDS)}")
    if len(paths) == 0:
        out = HashResult.empty(0, flip, crops)
        out.second = HashResult.empty(0, flip, crops) if second_kind else None
        return out
    executor = executor or get_executor("local", workers=workers)
    stage = Stage(hash_batch, {"kind": kind, "exact": exact, "flip": flip, "crops": crops, "second_kind": second_kind})
    table = executor.map_batches(stage, pd.DataFrame({"path": [str(p) for p in paths]}), chunk, desc=kind,
                                 quiet=quiet)
    out = _from_columns(table, flip, crops)
    out.errors = {i: e for i, e in enumerate(table["error"]) if e}
    if second_kind:
        out.second = _from_columns(table, flip, crops, "second_")
    return out
