"""All pairs of 64-bit hashes within a Hamming radius: brute force or multi-index hashing.

* ``brute``: XOR + popcount (``np.bitwise_count``) of row blocks against all
  hashes; O(n^2) but vectorised, the fastest choice for small n.
* ``mih``: multi-index hashing (Norouzi et al.). The 64 bits are cut into m
  blocks; two hashes within radius r agree within ``r // m`` bits on at least
  one block (pigeonhole), so probing every block's buckets at that sub-radius
  finds every pair, and every candidate is verified on the full hash: results
  are exact, identical to brute force. Each table is a sorted index plus a
  bucket-offset array (a CSR layout, no Python dicts); probes are vectorised
  over all hashes, one bit-flip mask at a time, and each unordered bucket pair
  is visited once.

``method="auto"`` picks the cheaper of the two from a cost model whose
constants were measured on this project's build machine (benchmarks/dedup.py).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from web2sky_bench.errors import Web2SkyError

METHODS = ("auto", "brute", "mih")
# Seconds per operation, measured with benchmarks/dedup.py (2-core build machine).
_COST_BRUTE_PAIR = 7e-9
_COST_PROBE = 4e-8
_COST_CANDIDATE = 4.5e-8
_MAX_CANDIDATES = 1 << 22  # candidates verified per vectorised step (bounds peak memory)


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(x: np.ndarray) -> np.ndarray:
    """Bits set in each element of a uint64 array (``np.bitwise_count`` on numpy >= 2)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _BYTE_BITS[x.view(np.uint8)].reshape(*x.shape, 8).sum(axis=-1, dtype=np.uint8)


def _brute(h: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(h)
    rows = max(1, _MAX_CANDIDATES // max(n, 1))
    out_i, out_j, out_d = [], [], []
    for start in range(0, n, rows):
        block = h[start : start + rows]
        dist = popcount(block[:, None] ^ h[None, start:])
        i, j = np.nonzero(dist <= radius)
        keep = j > i  # the column offset equals the row offset: j > i means a later hash
        out_i.append(i[keep] + start)
        out_j.append(j[keep] + start)
        out_d.append(dist[i[keep], j[keep]])
    return _concat(out_i, out_j, out_d)


def _concat(out_i, out_j, out_d) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8)
    return (
        np.concatenate(out_i).astype(np.int64),
        np.concatenate(out_j).astype(np.int64),
        np.concatenate(out_d).astype(np.uint8),
    )


def block_widths(m: int, bits: int = 64) -> list[int]:
    """Widths of ``m`` contiguous blocks covering ``bits`` bits, as even as possible."""
    base, extra = divmod(bits, m)
    return [base + 1 if t < extra else base for t in range(m)]


MAX_MASKS = 100_000


def _masks(width: int, radius: int) -> np.ndarray:
    total = sum(math.comb(width, r) for r in range(min(radius, width) + 1))
    if total > MAX_MASKS:
        raise Web2SkyError(
            f"multi-index hashing with {width}-bit blocks at sub-radius {radius} needs {total:,} probes "
            "per hash; use more blocks or method='auto'"
        )
    masks = [0]
    for r in range(1, min(radius, width) + 1):
        for combo in itertools.combinations(range(width), r):
            masks.append(sum(1 << b for b in combo))
    return np.array(masks, dtype=np.int64)


def mih_cost(n: int, radius: int, m: int) -> float:
    """Estimated seconds for multi-index hashing with ``m`` blocks."""
    sub = radius // m
    total = 0.0
    for w in block_widths(m):
        probes = sum(math.comb(w, r) for r in range(min(sub, w) + 1))
        total += n * probes * (_COST_PROBE + _COST_CANDIDATE * n / 2.0 ** w / 2)
    return total


def choose(n: int, radius: int) -> tuple[str, int]:
    """(method, blocks) with the lowest estimated cost for ``n`` hashes at ``radius``."""
    best_m = min(range(1, 17), key=lambda m: mih_cost(n, radius, m))
    if _COST_BRUTE_PAIR * n * n / 2 <= mih_cost(n, radius, best_m):
        return "brute", 0
    return "mih", best_m


def _expand(lo: np.ndarray, cnt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [lo, lo+cnt): (index of the range, position) for every element."""
    total = int(cnt.sum())
    owner = np.repeat(np.arange(len(cnt)), cnt)
    first = np.cumsum(cnt) - cnt
    pos = np.arange(total, dtype=np.int64) - np.repeat(first - lo, cnt)
    return owner, pos


def _chunks(cnt: np.ndarray):
    """Slices of ``cnt`` whose sums stay near ``_MAX_CANDIDATES``."""
    csum = np.cumsum(cnt)
    start = 0
    while start < len(cnt):
        base = csum[start - 1] if start else 0
        stop = int(np.searchsorted(csum, base + _MAX_CANDIDATES, side="right"))
        stop = max(stop, start + 1)
        yield slice(start, stop)
        start = stop


_DENSE_BITS = 24  # blocks up to this width use a dense bucket-offset array


def _bucket_lookup(skey: np.ndarray, width: int):
    """A function mapping keys to (first position, count) in the sorted keys ``skey``."""
    if width <= _DENSE_BITS:
        counts = np.bincount(skey, minlength=1 << width)
        starts = np.cumsum(counts) - counts
        return lambda keys: (starts[keys], counts[keys])
    ukeys, ustart, ucount = np.unique(skey, return_index=True, return_counts=True)

    def lookup(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.minimum(np.searchsorted(ukeys, keys), len(ukeys) - 1)
        found = ukeys[idx] == keys
        return np.where(found, ustart[idx], 0), np.where(found, ucount[idx], 0)

    return lookup


def _mih(h: np.ndarray, radius: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(h)
    sub = radius // m
    out_i, out_j, out_d = [], [], []
    shift = 64
    for width in block_widths(m):
        shift -= width
        key = ((h >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        order = np.argsort(key, kind="stable")
        skey = key[order]
        hs = h[order]
        lookup = _bucket_lookup(skey, width)
        for mask in _masks(width, sub):
            if mask == 0:  # pairs inside one bucket: each later member of the bucket
                q = np.arange(n, dtype=np.int64)
                lo = q + 1
                start, count = lookup(skey)
                cnt = start + count - lo
            else:  # bucket pairs (k, k ^ mask), each unordered pair once
                probe = skey ^ mask
                q = np.flatnonzero(probe > skey)
                lo, cnt = lookup(probe[q])
            nz = cnt > 0
            q, lo, cnt = q[nz], lo[nz], cnt[nz]
            for part in _chunks(cnt):
                owner, pos = _expand(lo[part], cnt[part])
                qi = q[part][owner]
                dist = popcount(hs[qi] ^ hs[pos])
                hit = dist <= radius
                if hit.any():
                    a, b = order[qi[hit]], order[pos[hit]]
                    out_i.append(np.minimum(a, b))
                    out_j.append(np.maximum(a, b))
                    out_d.append(dist[hit])
    i, j, d = _concat(out_i, out_j, out_d)
    if len(i):  # a pair close on several blocks is found once per block
        _, first = np.unique(i * n + j, return_index=True)
        i, j, d = i[first], j[first], d[first]
    return i, j, d


def radius_pairs(
    hashes: np.ndarray, radius: int, method: str = "auto", blocks: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i < j) with Hamming distance <= ``radius``: arrays i, j, distance.

    Identical hash values are collapsed first; each group of equal hashes comes
    back as pairs from its first member to every other member (distance 0), and
    near pairs are reported between the groups' first members, so the output
    stays linear in n for heavily duplicated data while keeping every group
    connected.
    """
    if method not in METHODS:
        raise Web2SkyError(f"unknown search method {method!r}; choose one of {', '.join(METHODS)}")
    if not 0 <= radius <= 64:
        raise Web2SkyError(f"radius must be between 0 and 64, got {radius}")
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    uniq, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    rep = first[inverse]
    dup = np.flatnonzero(rep != np.arange(len(h)))
    same_i, same_j = rep[dup], dup
    if method == "auto":
        method, blocks = choose(len(uniq), radius)
    if method == "brute":
        ui, uj, ud = _brute(uniq, radius)
    else:
        m = blocks or choose(len(uniq), radius)[1] or 4
        ui, uj, ud = _mih(uniq, radius, m)
    a, b = first[ui], first[uj]
    i = np.concatenate([np.minimum(same_i, same_j), np.minimum(a, b)]).astype(np.int64)
    j = np.concatenate([np.maximum(same_i, same_j), np.maximum(a, b)]).astype(np.int64)
    d = np.concatenate([np.zeros(len(dup), np.uint8), ud])
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]
