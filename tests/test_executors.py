"""The executor seam: local and Ray executors give identical manifests, reports and cache entries.

The Ray tests share one local Ray instance (2 CPUs, module-scoped) and run
clean, dedup (hashing), features (tiny random-weight open_clip) and fetch-web
on web2sky-synth tiny (the mini generator at 8 images per category, plus a
corrupt file and an exact and a mirrored duplicate) with both executors.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from httpfault import FaultServer
from PIL import Image, ImageOps
from tiny_clip import TINY_NAME, save_tiny_checkpoint

from web2sky_bench.acquire.fetch_web import fetch_web
from web2sky_bench.cli import main
from web2sky_bench.curate.clean import clean_dataset
from web2sky_bench.curate.dedup import dedup_dataset
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.executors import LocalExecutor, RayExecutor, Stage, get_executor
from web2sky_bench.manifest import file_sha256, new_rows, read_manifest, write_manifest
from web2sky_bench.models.backbones import load_backbone
from web2sky_bench.models.features import FeatureCache, image_features
from web2sky_bench.synth import generate_dataset

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'web2sky-bench[ray]')")


def _double(batch: pd.DataFrame, factor: int = 2) -> pd.DataFrame:
    return pd.DataFrame({"y": batch["x"] * factor, "pid": os.getpid()})


def _drop_one(batch: pd.DataFrame) -> pd.DataFrame:
    return batch.iloc[1:]


class _Offset:
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"z": batch["y"] + self.offset})


@pytest.mark.parametrize("executor", [LocalExecutor(1), LocalExecutor(2), LocalExecutor(2, threads=True)],
                         ids=["in-process", "processes", "threads"])
def test_local_executor_keeps_order_and_chains_stages(executor):
    frame = pd.DataFrame({"x": np.arange(100)}, index=np.arange(100)[::-1])
    out = executor.map_batches([Stage(_double, {"factor": 3}), Stage(_Offset, ctor_kwargs={"offset": 1})],
                               frame, 7, quiet=True)
    assert out["z"].tolist() == [3 * x + 1 for x in range(100)]
    chunks = list(executor.iter_batches(_double, frame, 30, quiet=True))
    assert [len(c) for c in chunks] == [30, 30, 30, 10]


def test_local_executor_uses_processes_only_for_several_batches():
    frame = pd.DataFrame({"x": np.arange(10)})
    assert set(LocalExecutor(2).map_batches(_double, frame, 10, quiet=True)["pid"]) == {os.getpid()}
    assert os.getpid() not in set(LocalExecutor(2).map_batches(_double, frame, 2, quiet=True)["pid"])


def test_per_batch_function_must_keep_row_count():
    with pytest.raises(RuntimeError, match="one DataFrame row per input row"):
        LocalExecutor(1).map_batches(_drop_one, pd.DataFrame({"x": [1, 2, 3]}), 2, quiet=True)


def test_get_executor_errors(monkeypatch):
    with pytest.raises(Web2SkyError, match="unknown executor"):
        get_executor("dask")
    with pytest.raises(Web2SkyError, match="needs --executor ray"):
        get_executor("local", ray_address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(Web2SkyError, match=r"pip install 'web2sky-bench\[ray\]'"):
        get_executor("ray")
    result = CliRunner().invoke(main, ["clean", "nowhere", "--executor", "ray"])
    assert result.exit_code == 2 and "web2sky-bench[ray]" in result.output


# --- identical outputs on Ray ---


@pytest.fixture(scope="module")
def ray_local(synth):  # after ``synth``: forking (the generator's pool) once Ray runs here can deadlock
    if not HAVE_RAY:
        pytest.skip("ray is not installed (pip install 'web2sky-bench[ray]')")
    import ray

    os.environ["RAY_DISABLE_USAGE_STATS"] = "1"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    yield RayExecutor()
    ray.shutdown()


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """web2sky-synth tiny (192 images) plus a truncated file, an exact and a mirrored duplicate."""
    folder = generate_dataset(tmp_path_factory.mktemp("synth") / "web2sky-synth-tiny", "tiny", quiet=True)
    frame = read_manifest(folder)
    rows = frame.to_dict("records")
    web = frame.index[frame["view"] == "web"][:2].tolist()
    src = folder / frame.at[web[0], "path"]
    shutil.copy(src, src.with_name("copy" + src.suffix))
    rows.append({**rows[web[0]], "image_id": "exact-copy", "path": str(Path(frame.at[web[0], "path"]).with_name(
        "copy" + src.suffix).as_posix())})
    with Image.open(src) as im:
        mirrored = ImageOps.mirror(im.convert("RGB"))
    mirror_rel = Path(frame.at[web[0], "path"]).with_name("mirror.png").as_posix()
    mirrored.save(folder / mirror_rel)
    rows.append({**rows[web[0]], "image_id": "mirror", "path": mirror_rel, "sha256": file_sha256(folder / mirror_rel)})
    broken = folder / frame.at[web[1], "path"]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 3])
    write_manifest(new_rows(rows), folder)
    return folder, str(frame.at[web[1], "image_id"])


def _same(a: dict, b: dict) -> list[str]:
    """Keys whose values differ (a short failure message; pytest's diff of big dicts is slow)."""
    return [k for k in a.keys() | b.keys() if a.get(k) != b.get(k)]


def _run_twice(folder: Path, run, ray_executor) -> tuple[bytes, dict, bytes, dict]:
    """Run ``run(executor)`` locally, then on Ray, on the same folder; return both manifests and reports."""
    original = (folder / "manifest.parquet").read_bytes()
    outputs = []
    for executor in (LocalExecutor(1), ray_executor):  # no fork pool once Ray's threads run here
        (folder / "manifest.parquet").write_bytes(original)
        report = run(executor)
        outputs += [(folder / "manifest.parquet").read_bytes(), json.loads(Path(report).read_text())]
    (folder / "manifest.parquet").write_bytes(original)
    return tuple(outputs)


@needs_ray
def test_ray_executor_runs_stages_in_ray_workers(ray_local):
    frame = pd.DataFrame({"x": np.arange(300)})
    out = ray_local.map_batches([Stage(_double), Stage(_Offset, ctor_kwargs={"offset": 5})], frame, 16, quiet=True)
    assert out["z"].tolist() == [2 * x + 5 for x in range(300)]
    chunks = [len(c) for c in ray_local.iter_batches(_double, frame, 16, quiet=True)]
    assert sum(chunks) == 300
    pids = set(ray_local.map_batches(_double, frame, 16, quiet=True)["pid"])
    assert os.getpid() not in pids


@needs_ray
def test_clean_identical_on_ray(synth, ray_local):
    synth, _ = synth
    local_manifest, local_report, ray_manifest, ray_report = _run_twice(
        synth, lambda ex: clean_dataset(synth, executor=ex, quiet=True).report, ray_local)
    assert local_report["flagged"] >= 1 and local_report["issue_counts"].get("truncated") == 1
    assert _same(ray_report, local_report) == []
    assert ray_manifest == local_manifest, "manifest bytes differ"


@needs_ray
def test_dedup_hashing_identical_on_ray(synth, ray_local):
    synth, _ = synth
    local_manifest, local_report, ray_manifest, ray_report = _run_twice(
        synth, lambda ex: dedup_dataset(synth, flip=True, crops=True, verify=True, executor=ex, quiet=True).report,
        ray_local)
    kinds = local_report["pairs_by_kind"]
    assert kinds["exact"] >= 1 and kinds["flip"] >= 1 and len(local_report["failed"]) == 1
    assert _same(ray_report, local_report) == []
    assert ray_manifest == local_manifest, "manifest bytes differ"
    assert pd.read_parquet(io.BytesIO(ray_manifest))["phash"].notna().sum() == local_report["hashed"]


@needs_ray
def test_features_and_cache_identical_on_ray(synth, ray_local, tmp_path):
    synth, broken = synth
    frame = read_manifest(synth)
    frame = frame[frame["image_id"] != broken].reset_index(drop=True)
    backbone = load_backbone(TINY_NAME, save_tiny_checkpoint(tmp_path / "tiny", seed=3))
    local = image_features(backbone, synth, frame, batch_size=16, workers=0, quiet=True)
    cache = FeatureCache(backbone.key)
    local_cache = cache.load()
    shutil.rmtree(cache.folder)
    driver_calls = []
    encode = backbone.encode_images
    backbone.encode_images = lambda batch: driver_calls.append(len(batch)) or encode(batch)
    on_ray = image_features(backbone, synth, frame, batch_size=16, quiet=True, executor=ray_local)
    assert driver_calls == []  # encoded by the Ray actor's copy, not here
    ray_cache = FeatureCache(backbone.key).load()
    assert torch.equal(on_ray, local)
    assert local_cache.keys() == ray_cache.keys() and len(ray_cache) == frame["sha256"].nunique()
    assert all(np.array_equal(local_cache[k], ray_cache[k]) for k in local_cache)


@needs_ray
def test_features_on_ray_report_undecodable_images(synth, ray_local, tmp_path):
    synth, _ = synth
    frame = read_manifest(synth)
    backbone = load_backbone(TINY_NAME, save_tiny_checkpoint(tmp_path / "tiny", seed=4))
    with pytest.raises(Web2SkyError, match="cannot decode image"):
        image_features(backbone, synth, frame, batch_size=64, quiet=True, executor=ray_local)


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40 + i, 30), (i * 13 % 255, 100, 50)).save(buf, format="JPEG")
    return buf.getvalue()


@needs_ray
def test_fetch_web_identical_on_ray(ray_local, tmp_path):
    with FaultServer() as server:
        rows = [{"image_id": f"g{i:02d}", "category": "f-16" if i % 2 else "nimitz-class",
                 "url": server.add(f"/img/{i}.jpg", _jpeg(i), content_type="image/jpeg")} for i in range(20)]
        rows.append({"image_id": "html", "category": "c-130",
                     "url": server.add("/page.html", b"<html></html>", content_type="text/html")})
        rows.append({"image_id": "noai", "category": "c-130", "url": server.add(
            "/noai.jpg", _jpeg(99), content_type="image/jpeg", headers={"X-Robots-Tag": "noai"})})
        rows.append({"image_id": "gone", "category": "c-130", "url": server.url("/missing.jpg")})
        urls = tmp_path / "urls.csv"
        pd.DataFrame(rows).to_csv(urls, index=False)
        stats = {}
        for name, executor in (("local", None), ("ray", ray_local)):
            stats[name] = fetch_web(urls, tmp_path / name, workers=4, retries=0, quiet=True, executor=executor)
    assert stats["local"].successes == stats["ray"].successes == 20
    assert stats["local"].failures_by_reason == stats["ray"].failures_by_reason
    assert sorted(f["image_id"] for f in stats["ray"].failed) == ["gone", "html", "noai"]
    local, ray = read_manifest(tmp_path / "local"), read_manifest(tmp_path / "ray")
    pd.testing.assert_frame_equal(local, ray)
    assert all((tmp_path / "ray" / p).read_bytes() == (tmp_path / "local" / p).read_bytes() for p in ray["path"])


@needs_ray
def test_cli_executor_ray(synth, ray_local):
    synth, _ = synth
    original = (synth / "manifest.parquet").read_bytes()
    try:
        result = CliRunner().invoke(main, ["dedup", str(synth), "--executor", "ray", "--quiet"])
        assert result.exit_code == 0, result.output
        assert "duplicate groups" in result.output
        assert read_manifest(synth)["phash"].notna().sum() == len(read_manifest(synth)) - 1
    finally:
        (synth / "manifest.parquet").write_bytes(original)
