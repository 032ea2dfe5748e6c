"""Feature extraction throughput: ``image_features`` (cold cache) vs the bare encoder.

Three measurements on the same images, model and batch size, in one run:

* **bare**: ``Backbone.encode_images`` over tensors preprocessed in advance
  (no decoding, no cache), at the better of the default and one torch thread:
  the ceiling;
* **image_features**: the library path with a cold cache (decode + preprocess
  in DataLoader workers overlapped with the encoder, cache writes included);
* **serial loop**: what a user would otherwise write: open, preprocess and
  encode each batch in the main process (``workers=0``), no overlap.

Usage::

    python benchmarks/features.py                       # synth mini if available, else generated JPEGs
    python benchmarks/features.py --backbone ViT-B-32 --pretrained random --images 128
    python benchmarks/features.py --dataset ~/.cache/web2sky/datasets/web2sky-synth-mini
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web2sky_bench.models.backbones import load_backbone
from web2sky_bench.models.features import encode_paths, image_features


def jpeg_folder(folder: Path, n: int, size: int, seed: int = 0) -> pd.DataFrame:
    """Write ``n`` smooth random JPEGs (photo-like compressibility); return path/sha256 rows."""
    rng = np.random.default_rng(seed)
    rows = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        a, b, c = rng.uniform(0, 6, 3)
        base = np.stack([np.sin(a * xx + b * yy + k) for k in (0, 1, 2)], -1) * 90 + 128
        img = np.clip(base + rng.normal(0, 12, base.shape) + c, 0, 255).astype(np.uint8)
        rel = f"images/{i:05d}.jpg"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / rel, quality=90)
        rows.append({"path": rel, "sha256": hashlib.sha256((folder / rel).read_bytes()).hexdigest()})
    return pd.DataFrame(rows)


def synth_mini() -> tuple[Path, pd.DataFrame] | None:
    """The web2sky-synth mini dataset when the synth module is installed."""
    try:
        from web2sky_bench.synth import ensure_dataset
    except ImportError:
        return None
    from web2sky_bench.manifest import read_manifest

    folder = ensure_dataset("mini", quiet=True)
    return folder, read_manifest(folder)


def main() -> None:
    """Parse arguments, run the interleaved measurements, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", help="dataset folder (default: synth mini, else generated JPEGs)")
    ap.add_argument("--images", type=int, default=128, help="images to use")
    ap.add_argument("--size", type=int, default=256, help="side of generated JPEGs")
    ap.add_argument("--backbone", default="ViT-B-32", help="open_clip name, or 'default' for the dataset's")
    ap.add_argument("--pretrained", default="random")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; best is reported")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="w2s-bench-") as tmp_name:
        run(args, Path(tmp_name))


def run(args: argparse.Namespace, tmp: Path) -> None:
    """The measurements; ``tmp`` holds generated images and the cold caches."""
    if args.dataset:
        from web2sky_bench.manifest import read_manifest

        folder, frame, source = Path(args.dataset), read_manifest(args.dataset), args.dataset
    elif (found := synth_mini()) is not None:
        folder, frame = found
        source = "web2sky-synth-mini"
    else:
        folder = tmp / "jpegs"
        frame, source = jpeg_folder(folder, args.images, args.size), f"generated {args.size}px JPEGs"
    frame = frame.drop_duplicates("sha256")
    frame = frame.sample(min(args.images, len(frame)), random_state=0).reset_index(drop=True)
    n = len(frame)

    torch.manual_seed(0)
    name = None if args.backbone == "default" else args.backbone
    bb = load_backbone(name, None if args.pretrained == "default" else args.pretrained,
                       args.device, dataset_dir=folder)
    paths = [folder / p for p in frame["path"]]
    print(f"{n} images ({source}), {bb.name} ({bb.pretrained}) on {bb.device}, batch {args.batch_size}, "
          f"{args.workers} workers, torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs")

    def sync() -> None:
        if bb.device.startswith("cuda"):
            torch.cuda.synchronize()

    # bare encoder on pre-loaded tensors
    tensors = []
    for p in paths:
        with Image.open(p) as im:
            tensors.append(bb.preprocess(im.convert("RGB")))
    batches = [torch.stack(tensors[i : i + args.batch_size]) for i in range(0, n, args.batch_size)]
    bb.encode_images(batches[0])  # warm-up
    sync()

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        sync()
        return n / (time.perf_counter() - t0)

    thread_options = sorted({torch.get_num_threads(), 1})

    def bare_pass() -> None:
        """The encoder alone, at its best thread count (the ceiling), so the rate is the best setting's."""
        best = None
        default = torch.get_num_threads()
        for threads in thread_options:
            torch.set_num_threads(threads)
            t0 = time.perf_counter()
            for batch in batches:
                bb.encode_images(batch)
            sync()
            took = time.perf_counter() - t0
            best = took if best is None else min(best, took)
        torch.set_num_threads(default)
        bare_times.append(best)

    bare_times: list[float] = []

    def cold_pass(i: int):
        os.environ["WEB2SKY_HOME"] = str(tmp / f"home-{i}")  # a fresh, empty feature cache
        return image_features(bb, folder, frame, batch_size=args.batch_size, workers=args.workers, quiet=True)

    passes = {
        "bare": bare_pass,
        "cold": None,  # filled per repeat: each cold pass gets an empty cache
        "warm": lambda: image_features(bb, folder, frame, batch_size=args.batch_size,
                                       workers=args.workers, quiet=True),
        "loop": lambda: encode_paths(bb, paths, args.batch_size, workers=0, quiet=True),
    }
    rates: dict[str, list[float]] = {k: [] for k in passes}
    order = ["bare", "cold", "warm", "loop"]
    for i in range(args.repeats):  # interleaved, order rotated, best of N: robust to other load
        passes["cold"] = lambda i=i: cold_pass(i)
        for key in order[i % 4 :] + order[: i % 4]:  # "warm" reads the latest cold pass's cache
            rate = timed(passes[key])
            rates[key].append(n / bare_times[-1] if key == "bare" else rate)
    feats = image_features(bb, folder, frame, batch_size=args.batch_size, workers=args.workers, quiet=True)
    serial = encode_paths(bb, paths, args.batch_size, workers=0, quiet=True)
    assert torch.allclose(feats, torch.from_numpy(serial), atol=1e-4)

    bare = max(rates["bare"])
    print(f"{'path (best of ' + str(args.repeats) + ')':<36}{'images/s':>12}{'vs bare':>10}   all runs")
    for key, label in (("bare", "bare encoder (pre-loaded tensors)"),
                       ("cold", "image_features, cold cache"),
                       ("loop", "serial loop (workers=0)"),
                       ("warm", "image_features, warm cache")):
        best = max(rates[key])
        runs = ", ".join(f"{r:.1f}" for r in rates[key])
        print(f"{label:<36}{best:>12.1f}{best / bare:>9.2f}x   {runs}")


if __name__ == "__main__":
    main()
