#!/usr/bin/env python3
"""Near-duplicate detection benchmark: hashing throughput, radius search, planted-duplicate accuracy.

(a) pHash throughput on a folder of real-size JPEGs: ours (fast draft decode and
    --exact) against ``PIL.Image.open`` + ``imagehash.phash`` in the same run;
    also the agreement of the fast path with the exact hash.
(b) radius-8 search over N random 64-bit hashes with planted near duplicates:
    ours (auto = the cost model's choice; brute force where it is sensible)
    against imagededup's search where it finishes within a time cap and faiss's
    binary indexes (flat, multi-hash); each run
    in its own process, reporting wall time and peak RSS.
(c) recall and precision of the dedup pipeline on planted near duplicates
    (resize, JPEG re-encode, crop <= 10 %, brightness, watermark text, mirror).

Usage::

    python benchmarks/dedup.py --parts a,b,c --workdir /tmp/w2s-dedup-bench \
        [--imagededup-path DIR]   # DIR from: pip install --no-deps --target DIR imagededup
        [--faiss-path DIR]        # DIR from: pip install --no-deps --target DIR faiss-cpu
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web2sky_bench.curate import dedup, hashing, search  # noqa: E402


# ---------------------------------------------------------------- images
_NOISE: dict[tuple[int, int], Image.Image] = {}


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like image: smooth colour field, soft-edged shapes, sensor noise."""
    rng = np.random.default_rng(seed)
    sw, sh = width // 4, height // 4  # drawn small, upscaled: soft edges at little cost
    field = rng.uniform(0, 255, (4, 5, 3)).astype(np.uint8)
    image = Image.fromarray(field, "RGB").resize((sw, sh), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(6, 16))):
        x0, y0 = rng.uniform(-0.1, 1.0) * sw, rng.uniform(-0.1, 1.0) * sh
        w, h = rng.uniform(0.05, 0.5) * sw, rng.uniform(0.05, 0.5) * sh
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = [x0, y0, x0 + w, y0 + h]
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(shape, fill=colour)
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    if (width, height) not in _NOISE:
        _NOISE[(width, height)] = Image.effect_noise((width, height), 40).convert("RGB")
    noise = _NOISE[(width, height)].transpose(Image.Transpose.ROTATE_180) if seed % 2 else _NOISE[(width, height)]
    return Image.blend(image, noise, 0.06)


def make_folder(folder: Path, n: int, size=(1024, 768), seed: int = 0, quality: int = 88) -> list[Path]:
    """``n`` photo-like JPEGs (generated once, reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:05d}.jpg" for i in range(n)]
    todo = [(p, i) for i, p in enumerate(paths) if not p.exists()]
    for p, i in todo:
        photo(*size, seed=seed * 1_000_003 + i).save(p, quality=quality)
    return paths


# ---------------------------------------------------------------- (a) throughput
def _imagehash_one(path: str) -> str:
    import imagehash

    return str(imagehash.phash(Image.open(path)))


def part_a(workdir: Path, n_images: int, repeats: int = 2) -> dict:
    """Hashing throughput, ours against PIL + imagehash, same folder, same run."""
    t0 = time.perf_counter()
    paths = make_folder(workdir / "jpegs", n_images)
    gen_s = time.perf_counter() - t0
    for p in paths:  # warm the page cache so every contender decodes from memory
        p.read_bytes()
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    strs = [str(p) for p in paths]
    runs: dict[str, float] = {}
    results = {}

    def timed(label: str, fn) -> None:
        t = time.perf_counter()
        value = fn()
        runs[label] = min(runs.get(label, float("inf")), time.perf_counter() - t)
        results[label] = value

    def imagehash_2proc():
        with ProcessPoolExecutor(2) as pool:
            return list(pool.map(_imagehash_one, strs, chunksize=32))

    for _ in range(repeats):  # interleaved rounds, best time of each: fair on a shared machine
        timed("imagehash, 1 process", lambda: [_imagehash_one(p) for p in strs])
        timed("imagehash, 2 processes", imagehash_2proc)
        for label, exact, workers in (("ours fast, 2 workers", False, 2), ("ours fast, 1 worker", False, 1),
                                      ("ours --exact, 2 workers", True, 2)):
            timed(label, lambda exact=exact, workers=workers: hashing.hash_files(
                paths, exact=exact, workers=workers, quiet=True))
    ref = results["imagehash, 1 process"]
    assert results["imagehash, 2 processes"] == ref
    exact_hex = hashing.to_hex(results["ours --exact, 2 workers"].hashes)
    fast = results["ours fast, 2 workers"].hashes
    dist = search.popcount(fast ^ results["ours --exact, 2 workers"].hashes)
    base = runs["imagehash, 1 process"]
    out = {
        "images": len(paths), "size": "1024x768", "repeats": repeats, "folder_mb": round(size_mb, 1), "generate_s": round(gen_s, 1),
        "seconds": {k: round(v, 2) for k, v in runs.items()},
        "images_per_s": {k: round(len(paths) / v, 1) for k, v in runs.items()},
        "speedup_vs_imagehash_1proc": {k: round(base / v, 2) for k, v in runs.items()},
        "speedup_vs_imagehash_2proc": {k: round(runs["imagehash, 2 processes"] / v, 2) for k, v in runs.items()},
        "exact_equals_imagehash": sum(a == b for a, b in zip(exact_hex, ref)),
        "fast_vs_exact": {
            "identical": float(np.mean(dist == 0)), "within_2": float(np.mean(dist <= 2)),
            "within_4": float(np.mean(dist <= 4)), "mean_bits": float(dist.mean()), "max_bits": int(dist.max()),
        },
    }
    return out


# ---------------------------------------------------------------- (b) radius search
def planted_hashes(n: int, seed: int = 0, planted_fraction: float = 0.01) -> np.ndarray:
    """``n`` hashes: random ones plus copies of some with 0-8 bits flipped."""
    rng = np.random.default_rng(seed)
    k = int(n * planted_fraction)
    h = rng.integers(0, 2**64 - 1, n - k, dtype=np.uint64, endpoint=True)
    src = rng.integers(0, n - k, k)
    bits = rng.integers(0, 9, k)
    noise = np.zeros(k, dtype=np.uint64)
    for t in range(k):
        for b in rng.choice(64, int(bits[t]), replace=False):
            noise[t] |= np.uint64(1) << np.uint64(int(b))
    return np.concatenate([h, h[src] ^ noise])


def search_one(n: int, method: str, radius: int) -> dict:
    """Run one search in this process (called in a fresh subprocess by part_b)."""
    h = planted_hashes(n)
    if method == "imagededup":  # its default search (brute_force_cython), 2 workers
        from imagededup.methods import PHash

        mapping = {str(i): f"{int(v):016x}" for i, v in enumerate(h)}
        t = time.perf_counter()
        found = PHash(verbose=False).find_duplicates(encoding_map=mapping, max_distance_threshold=radius,
                                                     search_method="brute_force_cython", num_dist_workers=2)
        seconds = time.perf_counter() - t
        pairs = sum(len(v) for v in found.values()) // 2
    elif method.startswith("faiss"):  # faiss-cpu binary indexes, 2 threads; range_search is "< radius"
        import faiss

        faiss.omp_set_num_threads(2)
        x = np.ascontiguousarray(h.astype(">u8").view(np.uint8).reshape(n, 8))
        t = time.perf_counter()
        if method == "faiss-flat":
            index = faiss.IndexBinaryFlat(64)
        else:  # multi-index hashing: 3 tables of 21 bits, 2 bit flips = exact at radius 8
            index = faiss.IndexBinaryMultiHash(64, 3, 21)
            index.nflip = radius // 3
        index.add(x)
        lims, _, found = index.range_search(x, radius + 1)
        seconds = time.perf_counter() - t
        owner = np.repeat(np.arange(n), np.diff(lims.astype(np.int64)))
        pairs = int((found > owner).sum())
    else:
        t = time.perf_counter()
        i, _, _ = search.radius_pairs(h, radius, method)
        seconds = time.perf_counter() - t
        pairs = len(i)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"n": n, "method": method, "seconds": round(seconds, 2), "pairs": pairs, "peak_rss_mb": round(peak)}


def part_b(sizes: list[int], radius: int, imagededup_path: str | None, cap_s: int,
           imagededup_max_n: int = 100_000, faiss_path: str | None = None) -> list[dict]:
    """Each (N, method) in its own process with a time cap."""
    rows = []
    for n in sizes:
        methods = ["auto"] + (["brute"] if n <= 100_000 else [])
        methods += ["imagededup"] if imagededup_path and n <= imagededup_max_n else []
        methods += (["faiss-mih"] + (["faiss-flat"] if n <= 100_000 else [])) if faiss_path else []
        for method in methods:
            env = dict(os.environ)
            extra = {"imagededup": imagededup_path, "faiss-mih": faiss_path, "faiss-flat": faiss_path}.get(method)
            if extra:
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra, env.get("PYTHONPATH")]))
            cmd = [sys.executable, __file__, "--search-one", str(n), method, str(radius)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap_s, env=env)
                if proc.returncode:
                    row = {"n": n, "method": method, "error": proc.stderr.strip().splitlines()[-1:]}
                else:
                    row = json.loads(proc.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                row = {"n": n, "method": method, "seconds": f"> {cap_s} (stopped)"}
            if method == "auto":
                row["chosen"] = "%s(blocks=%d)" % search.choose(n, radius) if search.choose(n, radius)[0] == "mih" else "brute"
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- (c) planted near duplicates
def _watermark(image: Image.Image, rng) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    text = "(c) photo-site.example " + str(int(rng.integers(1000, 9999)))
    x, y = int(rng.uniform(0.02, 0.4) * w), int(rng.uniform(0.8, 0.92) * h)
    draw.text((x, y), text, fill=(255, 255, 255))
    draw.text((x + 1, y + 1), text, fill=(0, 0, 0))
    return out


def _variant(image: Image.Image, kind: str, rng) -> Image.Image:
    w, h = image.size
    if kind == "resize":
        s = rng.uniform(0.3, 0.8)
        return image.resize((int(w * s), int(h * s)), Image.Resampling.BILINEAR)
    if kind == "jpeg":
        import io

        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=int(rng.integers(20, 50)))
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if kind == "crop":  # removes up to 10 % of each dimension, split randomly between the sides
        cw, ch = rng.uniform(0, 0.1) * w, rng.uniform(0, 0.1) * h
        left, top = rng.uniform(0, cw), rng.uniform(0, ch)
        return image.crop((int(left), int(top), int(w - (cw - left)), int(h - (ch - top))))
    if kind == "brightness":
        return ImageEnhance.Brightness(image).enhance(float(rng.choice([rng.uniform(0.75, 0.9), rng.uniform(1.1, 1.25)])))
    if kind == "watermark":
        return _watermark(image, rng)
    if kind == "mirror":
        return ImageOps.mirror(image)
    raise ValueError(kind)


KINDS = ("resize", "jpeg", "crop", "brightness", "watermark", "mirror")


def part_c(workdir: Path, n_base: int, n_dup_sources: int, radii: list[int]) -> dict:
    """Recall/precision of dedup (fast hashes, --flip; plain, --crops, --crops --verify) on planted variants.

    Recall: a variant ends in the same dup_group as its source. Pair precision:
    reported pairs whose two images come from the same source.
    """
    folder = workdir / "planted"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(123)
    paths, truth = [], []
    for i in range(n_base):
        p = folder / f"base{i:05d}.jpg"
        if not p.exists():
            photo(640, 480, seed=10_000 + i).save(p, quality=88)
        paths.append(p)
        truth.append(i)
    kinds = []
    for j in range(n_dup_sources):
        src = j  # the first n_dup_sources photos get one variant of every kind
        base = Image.open(paths[src]).convert("RGB")
        for kind in KINDS:
            p = folder / f"var{j:05d}-{kind}.jpg"
            if not p.exists():
                _variant(base, kind, rng).save(p, quality=90)
            paths.append(p)
            truth.append(src)
            kinds.append(kind)
    truth = np.array(truth)
    t = time.perf_counter()
    hashed = hashing.hash_files(paths, exact=False, flip=True, crops=True, second_kind="dhash", workers=2, quiet=True)
    hash_s = time.perf_counter() - t
    assert hashed.ok.all()
    results = {"images": len(paths), "distinct_sources": n_base, "variants_per_kind": n_dup_sources,
               "hash_s": round(hash_s, 1), "by_radius": {}}
    var_idx = np.arange(n_base, len(paths))
    var_kind = np.array(kinds)
    rows = np.arange(len(paths))
    for crops, verify in ((False, False), (True, False), (True, True)):
        for radius in radii:
            pairs = dedup.near_pairs(hashed.hashes, radius, hashed.flipped, "auto",
                                     hashed.crops if crops else None, hashed.crops_flipped if crops else None)
            if verify:
                pairs = dedup.verify_pairs(pairs, hashed.second, rows)
            same = truth[pairs.i] == truth[pairs.j]
            precision = float(same.mean()) if len(same) else 1.0
            groups = dedup.groups(len(paths), pairs)
            hit = (groups[var_idx] >= 0) & (groups[var_idx] == groups[truth[var_idx]])
            # group-level precision: images grouped with an image of another source
            impure = 0
            for g in np.unique(groups[groups >= 0]):
                impure += len(np.unique(truth[groups == g])) > 1
            key = f"radius={radius}" + (" --crops" if crops else "") + (" --verify" if verify else "")
            results["by_radius"][key] = {
                "pairs": len(pairs), "pair_precision": round(precision, 4),
                "recall": round(float(hit.mean()), 4),
                "recall_by_kind": {k: round(float(hit[var_kind == k].mean()), 3) for k in KINDS},
                "groups": int(groups.max() + 1), "impure_groups": int(impure),
            }
            print(json.dumps({key: results["by_radius"][key]}), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="a,b,c")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/w2s-dedup-bench"))
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--radius", type=int, default=8)
    parser.add_argument("--imagededup-path", default=None)
    parser.add_argument("--faiss-path", default=None, help="DIR from: pip install --no-deps --target DIR faiss-cpu")
    parser.add_argument("--cap-s", type=int, default=300, help="Time cap per search run.")
    parser.add_argument("--n-base", type=int, default=2000)
    parser.add_argument("--n-dup-sources", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="Write all results as JSON here.")
    parser.add_argument("--search-one", nargs=3, metavar=("N", "METHOD", "RADIUS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_one:
        n, method, radius = args.search_one
        print(json.dumps(search_one(int(n), method, int(radius))))
        return
    parts = set(args.parts.split(","))
    results = {"cpus": os.cpu_count()}
    if "a" in parts:
        results["a_throughput"] = part_a(args.workdir, args.n_images)
        print(json.dumps(results["a_throughput"], indent=1), flush=True)
    if "b" in parts:
        sizes = [int(s) for s in args.sizes.split(",")]
        results["b_search"] = part_b(sizes, args.radius, args.imagededup_path, args.cap_s,
                                     faiss_path=args.faiss_path)
    if "c" in parts:
        results["c_planted"] = part_c(args.workdir, args.n_base, args.n_dup_sources, [6, 8, 10])
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
