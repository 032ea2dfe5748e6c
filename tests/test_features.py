"""Feature extraction: rows aligned, L2-normalised, cached by sha256 + backbone key."""

from __future__ import annotations

import shutil

import pytest
import torch
from conftest import make_image_dataset
from PIL import Image
from tiny_clip import TINY_NAME, save_tiny_checkpoint

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.manifest import new_rows
from web2sky_bench.models import features
from web2sky_bench.models.backbones import load_backbone
from web2sky_bench.models.features import FeatureCache, image_features
from web2sky_bench.paths import cache_dir


def _rows(n: int, prefix: str = "i"):
    return [(f"{prefix}{i}", "aerial", "aircraft", "f-16", "train") for i in range(n)]


@pytest.fixture
def ckpt(tmp_path):
    return save_tiny_checkpoint(tmp_path / "tiny", seed=0)


def _counting(backbone):
    calls = {"batches": 0, "images": 0}
    inner = backbone.encode_images

    def encode_images(batch):
        calls["batches"] += 1
        calls["images"] += len(batch)
        return inner(batch)

    backbone.encode_images = encode_images
    return calls


def test_features_align_with_rows_and_second_run_hits_cache(tmp_path, ckpt):
    data = tmp_path / "ds"
    rows = make_image_dataset(data, _rows(7))
    rows.append({**rows[2], "image_id": "dup", "view": "web"})  # same file bytes as row 2
    frame = new_rows(rows).iloc[::-1].reset_index(drop=True)

    bb = load_backbone(TINY_NAME, ckpt)
    calls = _counting(bb)
    feats = image_features(bb, data, frame, batch_size=3, workers=0, quiet=True)
    assert feats.shape == (8, 32) and feats.dtype == torch.float32
    assert torch.allclose(feats.norm(dim=1), torch.ones(8), atol=1e-5)
    assert calls["images"] == 7 and calls["batches"] == 3  # duplicate encoded once
    for i, rel in enumerate(frame["path"]):  # row i is the feature of row i's file
        with Image.open(data / rel) as im:
            direct = bb.encode_images(bb.preprocess(im.convert("RGB"))[None])[0]
        assert torch.allclose(feats[i], direct, atol=1e-5)
    dup = frame.index[frame["image_id"] == "dup"][0]
    twin = frame.index[frame["image_id"] == "i2"][0]
    assert torch.equal(feats[dup], feats[twin])

    again = load_backbone(TINY_NAME, ckpt)  # a fresh process would build the same key
    calls2 = _counting(again)
    shutil.rmtree(data / "images")  # nothing may be read from disk either
    cached = image_features(again, data, frame, batch_size=3, workers=0, quiet=True)
    assert calls2["batches"] == 0
    assert torch.equal(cached, feats)


def test_cache_is_per_backbone_and_fills_only_missing(tmp_path, ckpt):
    data = tmp_path / "ds"
    frame = new_rows(make_image_dataset(data, _rows(6)))
    bb = load_backbone(TINY_NAME, ckpt)
    image_features(bb, data, frame.iloc[:4], workers=0, quiet=True)
    calls = _counting(bb)
    image_features(bb, data, frame, workers=0, quiet=True)
    assert calls["images"] == 2

    other = load_backbone(TINY_NAME, save_tiny_checkpoint(tmp_path / "tiny", seed=1))
    calls_other = _counting(other)
    image_features(other, data, frame, workers=0, quiet=True)
    assert calls_other["images"] == 6
    folders = [p for p in cache_dir("features").iterdir() if p.is_dir()]
    assert len(folders) == 2
    assert not list(cache_dir("features").rglob("*.tmp"))


def test_loader_workers_give_the_same_features(tmp_path, ckpt):
    data = tmp_path / "ds"
    frame = new_rows(make_image_dataset(data, _rows(5)))
    bb = load_backbone(TINY_NAME, ckpt)
    paths = [data / p for p in frame["path"]]
    threads = torch.get_num_threads()
    serial = features.encode_paths(bb, paths, batch_size=2, workers=0, quiet=True)
    parallel = features.encode_paths(bb, paths, batch_size=2, workers=2, quiet=True)
    assert torch.get_num_threads() == threads  # the CPU thread budget is restored
    assert serial.shape == (5, 32)
    assert torch.allclose(torch.from_numpy(serial), torch.from_numpy(parallel), atol=1e-6)


def test_shards_flush_during_the_run_and_merge(tmp_path, ckpt, monkeypatch):
    monkeypatch.setattr(features, "FLUSH_EVERY", 2)
    monkeypatch.setattr(features, "MAX_SHARDS", 3)
    data = tmp_path / "ds"
    frame = new_rows(make_image_dataset(data, _rows(9)))
    bb = load_backbone(TINY_NAME, ckpt)
    first = image_features(bb, data, frame.iloc[:3], batch_size=1, workers=0, quiet=True)
    cache = FeatureCache(bb.key)
    assert len(cache.shards()) == 2  # flushed after 2 images, then the last one
    cache.compact(max_shards=features.MAX_SHARDS)  # within the limit: untouched
    assert len(cache.shards()) == 2
    full = image_features(bb, data, frame, batch_size=1, workers=0, quiet=True)
    assert len(cache.shards()) == 1  # 2 + 3 new shards > 3 -> merged
    assert set(cache.load()) == set(frame["sha256"])
    assert torch.equal(full[:3], first)


def test_corrupt_image_is_a_user_error(tmp_path, ckpt):
    data = tmp_path / "ds"
    rows = make_image_dataset(data, _rows(3))
    (data / rows[1]["path"]).write_bytes(b"not a png")
    bb = load_backbone(TINY_NAME, ckpt)
    with pytest.raises(Web2SkyError, match=r"cannot decode image .*i1\.png"):
        image_features(bb, data, new_rows(rows), workers=0, quiet=True)


def test_empty_frame(tmp_path, ckpt):
    bb = load_backbone(TINY_NAME, ckpt)
    out = image_features(bb, tmp_path, new_rows([]), quiet=True)
    assert out.shape == (0, 32)


def test_cli_features_fills_then_reads_the_cache(tmp_path, ckpt):
    from click.testing import CliRunner

    from web2sky_bench.cli import main
    from web2sky_bench.manifest import write_card, write_manifest

    data = tmp_path / "ds"
    write_manifest(new_rows(make_image_dataset(data, _rows(4))), data)
    write_card(data, "tiny-set", "1")
    args = ["features", str(data), "--backbone", TINY_NAME, "--pretrained", str(ckpt), "--workers", "0", "-q"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "4 images x 32 dims, 4 encoded, 0 from cache" in first.output
    second = CliRunner().invoke(main, args)
    assert "0 encoded, 4 from cache" in second.output
    missing = CliRunner().invoke(main, ["features", "no-such-dataset"])
    assert missing.exit_code == 2 and "dataset 'no-such-dataset' not found" in missing.output
