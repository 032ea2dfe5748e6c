"""Throughput of the local and Ray executors for clean and hashing on web2sky-synth mini.

Both run the same per-batch functions on a private copy of the dataset; the
script checks that the manifests and reports they write are identical and
prints images/s for each, the Ray/local ratio and Ray's start-up time
(measured apart). The local runs go first: forking a process pool after
``ray.init`` is unsafe. Run:

    PYTHONPATH=$PWD python benchmarks/ray_executor.py [--size mini] [--cpus 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from web2sky_bench.curate.clean import clean_dataset
from web2sky_bench.curate.dedup import dedup_dataset
from web2sky_bench.executors import LocalExecutor, RayExecutor
from web2sky_bench.manifest import read_manifest
from web2sky_bench.synth import ensure_dataset


def _stage(name: str, folder: Path, executor) -> tuple[float, bytes, dict]:
    """Run one stage; return (seconds, manifest bytes, report without timings)."""
    original = (folder / "manifest.parquet").read_bytes()
    start = time.perf_counter()
    if name == "clean":
        report = clean_dataset(folder, executor=executor, quiet=True).report
    else:
        report = dedup_dataset(folder, flip=True, executor=executor, quiet=True).report
    seconds = time.perf_counter() - start
    out = (folder / "manifest.parquet").read_bytes()
    (folder / "manifest.parquet").write_bytes(original)
    return seconds, out, json.loads(Path(report).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="mini")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance and local workers.")
    parser.add_argument("--rounds", type=int, default=2, help="Runs per executor and stage (best is kept).")
    args = parser.parse_args()

    source = ensure_dataset(args.size, quiet=True)
    work = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    folder = Path(shutil.copytree(source, work / source.name))
    n = len(read_manifest(folder))
    results: dict = {"dataset": source.name, "images": n, "cpus": args.cpus, "stages": {}}
    outputs: dict = {}
    try:
        local = LocalExecutor(args.cpus)
        for stage in ("clean", "hash"):
            runs = [_stage(stage, folder, local) for _ in range(args.rounds)]
            outputs[(stage, "local")] = runs[0][1:]
            results["stages"][stage] = {"local_s": min(r[0] for r in runs)}

        import ray

        os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
        start = time.perf_counter()
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        results["ray_init_s"] = round(time.perf_counter() - start, 2)
        on_ray = RayExecutor()
        for stage in ("clean", "hash"):
            runs = [_stage(stage, folder, on_ray) for _ in range(args.rounds)]
            outputs[(stage, "ray")] = runs[0][1:]
            row = results["stages"][stage]
            row["ray_s"] = min(r[0] for r in runs)
            row["identical"] = outputs[(stage, "ray")] == outputs[(stage, "local")]
            for ex in ("local", "ray"):
                row[f"{ex}_img_s"] = round(n / row[f"{ex}_s"], 1)
                row[f"{ex}_s"] = round(row[f"{ex}_s"], 2)
            row["ray_over_local"] = round(row["ray_img_s"] / row["local_img_s"], 2)
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if not all(r["identical"] for r in results["stages"].values()):
        raise SystemExit("outputs differ between executors")


if __name__ == "__main__":
    main()
