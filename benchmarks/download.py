"""fetch-web vs img2dataset on the same loopback server, in the same run.

A threaded HTTP server on 127.0.0.1 (tests/httpfault.py, keep-alive, HTTP/1.1)
holds N distinct JPEGs of about 50 KB. Each tool runs as its own process on
the same URL list, one after the other, from a cold output folder:

* ``web2sky-bench fetch-web`` (sha256 of every body, full decode check,
  X-Robots-Tag, content-type and size checks, atomic writes, manifest);
* ``img2dataset`` with the closest settings: ``resize_mode=no``,
  ``skip_reencode=True`` (it still decodes every image with OpenCV),
  ``compute_hash=sha256``, ``output_format=files``, ``extract_exif=False``,
  one process per core.

Reported: wall time of the whole command (start-up included, as a user waits
for it), images/s, and peak resident memory of the process tree (psutil,
sampled every 20 ms). Usage::

    python benchmarks/download.py --n 2000 --img2dataset-python /work/img2dataset-venv/bin/python
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from httpfault import FaultServer  # noqa: E402 (needs the sys.path insert above)

IMG2DATASET_CODE = """
import sys
from img2dataset import download
if __name__ == "__main__":
    download(url_list=sys.argv[1], output_folder=sys.argv[2], input_format="txt", output_format="files",
             resize_mode="no", skip_reencode=True, compute_hash="sha256", extract_exif=False,
             processes_count=int(sys.argv[3]), thread_count=int(sys.argv[4]), timeout=10, retries=0,
             number_sample_per_shard=10000)
"""


def make_images(n: int, seed: int = 0) -> list[bytes]:
    """N distinct JPEGs of about 50 KB (a gradient plus seeded noise)."""
    rng = np.random.default_rng(seed)
    w, h = 344, 258
    base = np.linspace(0, 255, w * h * 3).reshape(h, w, 3) * 0.5
    out = []
    for _ in range(n):
        arr = (base + rng.integers(0, 128, (h, w, 3))).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; return wall seconds, peak RSS of its process tree (bytes), and its output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{output[-3000:]}")
    return wall, peak[0], output


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=16, help="fetch-web threads")
    ap.add_argument("--img2dataset-python", default="/work/img2dataset-venv/bin/python")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="img2dataset processes")
    ap.add_argument("--threads", type=int, default=16, help="img2dataset threads per process")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    images = make_images(args.n)
    mean_kb = sum(map(len, images)) / len(images) / 1024
    with FaultServer() as srv, tempfile.TemporaryDirectory(prefix="w2s-bench-") as tmp:
        tmp = Path(tmp)
        urls = [srv.add(f"/img/{i:05d}.jpg", body, content_type="image/jpeg") for i, body in enumerate(images)]
        pd.DataFrame({"image_id": [f"img{i:05d}" for i in range(args.n)], "url": urls,
                      "category": "f-16"}).to_csv(tmp / "urls.csv", index=False)
        (tmp / "urls.txt").write_text("\n".join(urls) + "\n")
        print(f"server {srv.base}: {args.n} JPEGs, mean {mean_kb:.1f} KiB; {os.cpu_count()} cores", flush=True)

        results = {}
        env = {**os.environ, "PYTHONPATH": str(REPO), "WEB2SKY_HOME": str(tmp / "home")}
        wall, peak, _ = run_measured(
            [sys.executable, "-m", "web2sky_bench", "fetch-web", str(tmp / "urls.csv"), "--out", str(tmp / "w2s"),
             "--workers", str(args.workers), "--per-host", str(args.workers), "-q"], env)
        stats = json.loads((tmp / "w2s" / "fetch_stats.json").read_text())
        ok = stats["successes"]
        results["web2sky-bench fetch-web"] = {"ok": ok, "wall_s": wall, "images_per_s": ok / wall,
                                              "loop_images_per_s": stats["images_per_s"], "peak_rss_mb": peak / 2**20}

        srv.log.clear()
        code = tmp / "run_img2dataset.py"
        code.write_text(IMG2DATASET_CODE)
        wall, peak, _ = run_measured([args.img2dataset_python, str(code), str(tmp / "urls.txt"), str(tmp / "i2d"),
                                      str(args.processes), str(args.threads)])
        ok = sum(1 for _ in (tmp / "i2d").rglob("*.jpg"))
        results["img2dataset"] = {"ok": ok, "wall_s": wall, "images_per_s": ok / wall,
                                  "loop_images_per_s": None, "peak_rss_mb": peak / 2**20}

    print(f"\n{'tool':<26}{'ok':>6}{'wall s':>9}{'img/s':>9}{'peak MiB':>10}")
    for name, r in results.items():
        print(f"{name:<26}{r['ok']:>6}{r['wall_s']:>9.2f}{r['images_per_s']:>9.1f}{r['peak_rss_mb']:>10.0f}")
    ours, theirs = results["web2sky-bench fetch-web"], results["img2dataset"]
    print(f"\nthroughput ratio fetch-web / img2dataset: {ours['images_per_s'] / theirs['images_per_s']:.2f}x")
    print(f"peak memory ratio fetch-web / img2dataset: {ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}x")
    print(f"fetch-web download loop alone (start-up excluded): {ours['loop_images_per_s']:.1f} images/s")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "mean_kib": mean_kb, "results": results}, indent=2))


if __name__ == "__main__":
    main()
