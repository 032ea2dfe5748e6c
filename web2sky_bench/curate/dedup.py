"""Exact and near-duplicate detection: content hash, perceptual hash, radius search, groups.

Exact duplicates share a sha256. Near duplicates have perceptual hashes
(:mod:`web2sky_bench.curate.hashing`) within a Hamming radius, found by
:func:`web2sky_bench.curate.search.radius_pairs`; with ``flip`` a hash is also
compared with the other images' mirrored hashes. Connected components of both
kinds of pair (union-find over the pair graph) become the manifest's
``dup_group``; singletons keep a null group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from web2sky_bench.curate import dataset as dataset_mod
from web2sky_bench.curate import hashing, search
from web2sky_bench.executors import Executor
from web2sky_bench.io.atomic import write_json
from web2sky_bench.manifest import read_manifest

DEFAULT_RADIUS = 8
# --verify: a pHash pair is kept only if its dHash (same variants) is within this
# many bits. Planted copies stay within 3 bits; pHash collisions between
# different simple renders (web2sky-synth-mini) were 18-28 bits apart.
VERIFY_RADIUS = 12
PAIR_KINDS = ("exact", "near", "crop", "flip")


@dataclass
class Pairs:
    """Duplicate pairs as parallel arrays over row indices (i < j)."""

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray
    kind: np.ndarray  # one of PAIR_KINDS

    def __len__(self) -> int:
        return len(self.i)


def exact_pairs(sha256: pd.Series) -> Pairs:
    """Rows with the same content hash: each row paired with the first row of its hash."""
    codes, _ = pd.factorize(sha256)
    codes = np.asarray(codes)
    valid = codes >= 0
    idx = np.flatnonzero(valid)
    first = pd.Series(idx).groupby(codes[valid]).transform("min").to_numpy()
    keep = first != idx
    n = int(keep.sum())
    return Pairs(first[keep], idx[keep], np.zeros(n, np.uint8), np.full(n, "exact", dtype=object))


def near_pairs(
    hashes: np.ndarray,
    radius: int = DEFAULT_RADIUS,
    flipped: np.ndarray | None = None,
    method: str = "auto",
    crops: np.ndarray | None = None,
    crops_flipped: np.ndarray | None = None,
) -> Pairs:
    """Pairs of images whose hashes are within ``radius``.

    Every image contributes its hash plus, when given, its mirrored hash
    (``flipped``), its crop hashes (``crops``, shape (n, k)) and their mirrors.
    All of them are searched together; a pair of images is reported once, with
    the smallest distance between any of their hashes. ``kind`` says which
    matched: ``near`` (whole images), ``crop`` (a crop of one), ``flip`` (a
    mirrored hash).
    """
    n = len(hashes)
    if n == 0:
        return Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, object))
    parts = [(hashes, 0)]  # (hashes, tag): bit 1 = mirrored, bit 2 = crop
    if flipped is not None:
        parts.append((flipped, 1))
    if crops is not None:
        parts.append((crops, 2))
        if crops_flipped is not None:
            parts.append((crops_flipped, 3))
    values = np.concatenate([np.asarray(h, dtype=np.uint64).reshape(n, -1).T.ravel() for h, _ in parts])
    owner = np.concatenate([np.tile(np.arange(n), np.asarray(h).size // max(n, 1)) for h, _ in parts])
    tag = np.concatenate([np.full(np.asarray(h).size, t, dtype=np.int8) for h, t in parts])
    i, j, d = search.radius_pairs(values, radius, method)
    mirrored = (tag[i] & 1).astype(bool) ^ (tag[j] & 1).astype(bool)
    both_mirrored = (tag[i] & 1).astype(bool) & (tag[j] & 1).astype(bool)
    cropped = ((tag[i] | tag[j]) & 2).astype(bool)
    a, b = owner[i], owner[j]
    keep = (a != b) & ~both_mirrored  # mirrored-vs-mirrored repeats the plain pair
    a, b, d = np.minimum(a, b)[keep], np.maximum(a, b)[keep], d[keep]
    kind_code = np.where(mirrored[keep], 2, np.where(cropped[keep], 1, 0))
    order = np.lexsort((kind_code, d, b, a))  # per pair: the smallest distance, plain first
    a, b, d, kind_code = a[order], b[order], d[order], kind_code[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    names = np.array(["near", "crop", "flip"], dtype=object)
    return Pairs(a[first], b[first], d[first], names[kind_code[first]])


def _variants(result: hashing.HashResult, rows: np.ndarray) -> np.ndarray:
    """(len(rows), k) matrix of every hash variant of each row, the whole-image hash first."""
    cols = [result.hashes[rows, None]]
    for extra in (result.flipped, result.crops, result.crops_flipped):
        if extra is not None:
            cols.append(extra[rows].reshape(len(rows), -1))
    return np.concatenate(cols, axis=1)


def verify_pairs(pairs: Pairs, second: hashing.HashResult, rows: np.ndarray,
                 radius: int = VERIFY_RADIUS) -> Pairs:
    """Keep the pairs whose second hash also agrees within ``radius`` bits.

    ``pairs`` index ``rows`` (row numbers into ``second``). The distance is the
    smallest between one image's whole-image hash and any variant (mirror,
    crop) of the other, either way round, so flip and crop matches verify too.
    """
    if not len(pairs):
        return pairs
    va, vb = _variants(second, rows[pairs.i]), _variants(second, rows[pairs.j])
    d = np.minimum(search.popcount(va[:, :1] ^ vb).min(axis=1), search.popcount(va ^ vb[:, :1]).min(axis=1))
    keep = d <= radius
    return Pairs(pairs.i[keep], pairs.j[keep], pairs.distance[keep], pairs.kind[keep])


def groups(n: int, pairs: Pairs) -> np.ndarray:
    """Connected components of the pair graph: a group id per row, -1 for singletons.

    Groups are numbered 0, 1, ... in the order of their first row.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(pairs), np.int8), (pairs.i, pairs.j)), shape=(n, n))
    n_components, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels, minlength=n_components)
    _, first_row = np.unique(labels, return_index=True)
    by_first_row = labels[np.sort(first_row)]
    multi = by_first_row[sizes[by_first_row] > 1]
    rank = np.full(n_components, -1, dtype=np.int64)
    rank[multi] = np.arange(len(multi))
    return rank[labels]


@dataclass
class DedupResult:
    """The updated manifest, all pairs, hashing failures and the report path."""

    frame: pd.DataFrame
    pairs: Pairs
    failed: dict[str, str]
    report: Path


def dedup_dataset(
    dataset: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    radius: int = DEFAULT_RADIUS,
    flip: bool = False,
    crops: bool = False,
    verify: bool = False,
    verify_radius: int = VERIFY_RADIUS,
    exact: bool = False,
    hash_kind: str = "phash",
    method: str = "auto",
    report: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    quiet: bool = False,
    executor: Executor | None = None,
) -> DedupResult:
    """Hash every image, find exact and near duplicates, write ``phash``/``dup_group`` and a report.

    ``exact`` decodes every pixel (hash values identical to imagehash); the
    default fast path uses JPEG draft decoding. ``crops`` also matches copies
    cropped by up to 10 % (nine crop hashes per image, searched together).
    ``verify`` keeps a near pair only when a second hash (dHash for pHash)
    agrees within ``verify_radius`` bits too. With ``hash_kind="dhash"`` the
    search runs on dHash and the ``phash`` column is left as it was. The
    settings are recorded in ``dataset.json`` (``dedup``) so that ``split``
    can rerun the same detection. ``executor`` runs the hashing (default:
    local, ``workers`` processes); the radius search runs in this process
    (see docs/ray.md for its limits).
    """
    folder = dataset_mod.resolve(dataset, root)
    frame = read_manifest(folder)
    paths = [folder / p for p in frame["path"]]
    second = ("dhash" if hash_kind == "phash" else "phash") if verify else None
    hashed = hashing.hash_files(paths, hash_kind, exact=exact, flip=flip, crops=crops, second_kind=second,
                                workers=workers, quiet=quiet, executor=executor)
    ok = np.flatnonzero(hashed.ok)
    def rows(values):
        return values[ok] if values is not None else None

    near = near_pairs(hashed.hashes[ok], radius, rows(hashed.flipped), method,
                      rows(hashed.crops), rows(hashed.crops_flipped))
    candidates = len(near)
    if verify:
        near = verify_pairs(near, hashed.second, ok, verify_radius)
    near = Pairs(ok[near.i], ok[near.j], near.distance, near.kind)
    exact_p = exact_pairs(frame["sha256"])
    known = set(zip(exact_p.i.tolist(), exact_p.j.tolist()))
    keep = np.array([(a, b) not in known for a, b in zip(near.i.tolist(), near.j.tolist())], dtype=bool)
    pairs = Pairs(
        np.concatenate([exact_p.i, near.i[keep]]).astype(np.int64),
        np.concatenate([exact_p.j, near.j[keep]]).astype(np.int64),
        np.concatenate([exact_p.distance, near.distance[keep]]).astype(np.uint8),
        np.concatenate([exact_p.kind, near.kind[keep]]),
    )
    group = groups(len(frame), pairs)

    frame = frame.copy()
    if hash_kind == "phash":
        hexes = hashing.to_hex(hashed.hashes)
        frame["phash"] = [h if good else None for h, good in zip(hexes, hashed.ok)]
    frame["dup_group"] = pd.array([g if g >= 0 else None for g in group.tolist()], dtype="Int64")
    settings = {"radius": radius, "flip": flip, "crops": crops, "verify": verify, "verify_radius": verify_radius,
                "exact": exact, "hash_kind": hash_kind}
    dataset_mod.save(frame, folder, dedup=settings)

    ids = frame["image_id"].tolist()
    failed = {ids[i]: msg for i, msg in sorted(hashed.errors.items())}
    members: dict[int, list[str]] = {}
    for image_id, g in zip(ids, group.tolist()):
        if g >= 0:
            members.setdefault(g, []).append(image_id)
    out = dataset_mod.report_path(folder, "dedup.json", report)
    write_json(
        out,
        {
            "dataset": str(folder),
            "hash": hash_kind,
            "exact_decode": exact,
            "radius": radius,
            "flip": flip,
            "crops": crops,
            "verify_radius": verify_radius if verify else None,
            "rejected_by_verify": candidates - len(near) if verify else 0,
            "images": len(frame),
            "hashed": int(hashed.ok.sum()),
            "failed": failed,
            "pairs_by_kind": {k: int((pairs.kind == k).sum()) for k in PAIR_KINDS},
            "groups": len(members),
            "images_in_groups": int((group >= 0).sum()),
            "largest_group": max((len(v) for v in members.values()), default=0),
            "pairs": [
                {"a": ids[a], "b": ids[b], "distance": int(d), "kind": str(k)}
                for a, b, d, k in zip(pairs.i.tolist(), pairs.j.tolist(), pairs.distance.tolist(), pairs.kind)
            ],
            "members": {str(g): v for g, v in members.items()},
        },
    )
    return DedupResult(frame, pairs, failed, out)
