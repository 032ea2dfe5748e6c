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


@dataclass
class Pairs:
    """Duplicate pairs as parallel arrays over row indices (i < j)."""

    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray
    kind: np.ndarray  # "exact", "near" or "flip"

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
) -> Pairs:
    """Pairs of hashes within ``radius``; with ``flipped``, also hash-vs-mirrored-hash pairs."""
    n = len(hashes)
    if flipped is None:
        i, j, d = search.radius_pairs(hashes, radius, method)
        return Pairs(i, j, d, np.full(len(i), "near", dtype=object))
    i, j, d = search.radius_pairs(np.concatenate([hashes, flipped]), radius, method)
    flip = (i >= n) | (j >= n)
    keep = ~((i >= n) & (j >= n))  # mirrored-vs-mirrored repeats the plain pair
    i, j, d, flip = i[keep] % n, j[keep] % n, d[keep], flip[keep]
    keep = i != j
    a, b = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    d, flip = d[keep], flip[keep]
    order = np.lexsort((flip, d, b, a))  # per pair: the smallest distance, plain before mirrored
    a, b, d, flip = a[order], b[order], d[order], flip[order]
    first = np.ones(len(a), dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b, d, flip = a[first], b[first], d[first], flip[first]
    return Pairs(a, b, d, np.where(flip, "flip", "near").astype(object))


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
    default fast path uses JPEG draft decoding. With ``hash_kind="dhash"`` the
    search runs on dHash and the ``phash`` column is left as it was.
    ``executor`` runs the hashing (default: local, ``workers`` processes); the
    radius search runs in this process (see docs/ray.md for its limits).
    """
    folder = dataset_mod.resolve(dataset, root)
    frame = read_manifest(folder)
    paths = [folder / p for p in frame["path"]]
    hashed = hashing.hash_files(paths, hash_kind, exact=exact, flip=flip, workers=workers, quiet=quiet,
                                executor=executor)
    ok = np.flatnonzero(hashed.ok)
    near = near_pairs(
        hashed.hashes[ok], radius, hashed.flipped[ok] if hashed.flipped is not None else None, method
    )
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
    dataset_mod.save(frame, folder)

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
            "images": len(frame),
            "hashed": int(hashed.ok.sum()),
            "failed": failed,
            "pairs_by_kind": {k: int((pairs.kind == k).sum()) for k in ("exact", "near", "flip")},
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
