"""Perceptual hashes equal to imagehash, exact radius search, duplicate groups."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import imagehash
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageEnhance, ImageOps

from web2sky_bench import manifest
from web2sky_bench.cli import main
from web2sky_bench.curate import dedup, hashing, search
from web2sky_bench.errors import Web2SkyError

_spec = importlib.util.spec_from_file_location("malformed_data", Path(__file__).parent / "data/malformed/data.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> list[Path]:
    """210 varied images: JPEG and PNG, several sizes and modes, some with EXIF rotation."""
    folder = tmp_path_factory.mktemp("hash-images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(210):
        size = (int(rng.integers(40, 160)), int(rng.integers(40, 160)))
        image = fixtures.photo(size, seed=1000 + i)
        kind = i % 6
        if kind == 1:
            image = image.convert("L")
        elif kind == 2:
            image = image.convert("P", palette=Image.Palette.ADAPTIVE)
        elif kind == 3:
            image = image.convert("RGBA")
        ext = "png" if kind in (1, 2, 3) or i % 5 == 0 else "jpg"
        path = folder / f"{i:03d}.{ext}"
        if ext == "jpg" and i % 7 == 0:
            exif = Image.Exif()
            exif[0x0112] = 6
            image.save(path, quality=85, exif=exif.tobytes())
        else:
            image.save(path)
        paths.append(path)
    return paths


def _reference(path: Path, fn=imagehash.phash, mirror=False) -> str:
    image = ImageOps.exif_transpose(Image.open(path))
    return str(fn(ImageOps.mirror(image) if mirror else image))


def test_phash_and_dhash_identical_to_imagehash(image_folder):
    assert len(image_folder) >= 200
    result = hashing.hash_files(image_folder, "phash", exact=True, flip=True, workers=2, quiet=True)
    assert result.ok.all()
    assert hashing.to_hex(result.hashes) == [_reference(p) for p in image_folder]
    flipped = hashing.to_hex(result.flipped)
    mirrored = [_reference(p, mirror=True) for p in image_folder]
    assert sum(a == b for a, b in zip(flipped, mirrored)) >= 0.98 * len(image_folder)
    d = hashing.hash_files(image_folder, "dhash", exact=True, workers=1, quiet=True)
    assert hashing.to_hex(d.hashes) == [_reference(p, imagehash.dhash) for p in image_folder]
    assert (hashing.from_hex(hashing.to_hex(d.hashes)) == d.hashes).all()


def test_fast_path_agrees_closely(image_folder):
    exact = hashing.hash_files(image_folder, exact=True, workers=1, quiet=True)
    fast = hashing.hash_files(image_folder, exact=False, workers=1, quiet=True)
    dist = search.popcount(exact.hashes ^ fast.hashes)
    assert dist.max() <= 8 and dist.mean() < 1.0


def test_crop_hashes_match_cropped_copies(image_folder):
    base = Image.open(image_folder[0]).convert("RGB")
    w, h = base.size
    crop = base.crop((w // 20, 0, w, h - h // 10))
    grey_b, grey_c = hashing._grey(base), hashing._grey(crop)
    crops_b = hashing.phash_from_pixels(hashing.crop_arrays(grey_b))[0]
    full_b = hashing.phash_from_pixels(hashing.grey_for_hash(grey_b)[None])[0]
    full_c = hashing.phash_from_pixels(hashing.grey_for_hash(grey_c)[None])[0]
    assert crops_b.shape == (hashing.N_CROPS,)
    assert search.popcount(crops_b ^ full_c).min() < search.popcount(full_b ^ full_c)[0]
    assert hashing.crop_boxes(100, 100)[0] == (0, 0, 95, 95) and hashing.crop_boxes(100, 100)[-1] == (5, 5, 100, 100)


def test_unreadable_files_are_reported_not_raised(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"<html></html>")
    fixtures.photo((64, 64)).save(tmp_path / "ok.png")
    result = hashing.hash_files([tmp_path / "bad.jpg", tmp_path / "ok.png"], workers=1, quiet=True)
    assert result.ok.tolist() == [False, True]
    assert result.errors[0].startswith("not_an_image")


def _planted(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    src = rng.integers(0, n, n // 10)
    noise = np.zeros(len(src), dtype=np.uint64)
    for t in range(len(src)):
        for b in rng.choice(64, int(rng.integers(0, 11)), replace=False):
            noise[t] |= np.uint64(1) << np.uint64(b)
    return np.concatenate([h, h[src] ^ noise, h[:20]])


@pytest.mark.parametrize("radius", [0, 3, 8, 10])
def test_mih_equals_brute_force(radius):
    h = _planted(12_000, radius)
    expected = search.radius_pairs(h, radius, "brute")
    assert len(expected[0]) > 20
    for blocks in ((2, 3, 5) if radius <= 3 else (3, 5)):
        got = search.radius_pairs(h, radius, "mih", blocks)
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b)
    d = search.popcount(h[expected[0]] ^ h[expected[1]])
    np.testing.assert_array_equal(d, expected[2])
    assert (d <= radius).all() and (expected[0] < expected[1]).all()


def test_search_choice_and_errors():
    assert search.choose(100, 8)[0] == "brute"
    assert search.choose(1_000_000, 8) == ("mih", 3)
    assert search.block_widths(3) == [22, 21, 21]
    with pytest.raises(Web2SkyError, match="radius"):
        search.radius_pairs(np.zeros(3, np.uint64), 65)
    with pytest.raises(Web2SkyError, match="more blocks"):
        search.radius_pairs(np.arange(5, dtype=np.uint64), 8, "mih", 1)
    with pytest.raises(Web2SkyError, match="method"):
        search.radius_pairs(np.zeros(3, np.uint64), 8, "kdtree")


def _variants(base: Image.Image) -> dict[str, Image.Image]:
    w, h = base.size
    return {
        "resized": base.resize((w // 2, h // 2), Image.Resampling.BILINEAR),
        "brighter": ImageEnhance.Brightness(base).enhance(1.2),
        "cropped": base.crop((w // 20, h // 20, w - w // 20, h - h // 20)),
        "mirror": ImageOps.mirror(base),
    }


@pytest.fixture
def dup_dataset(tmp_path) -> Path:
    rows = []

    def add(image_id: str, image: Image.Image, category="f-16", split="train", fmt="jpg"):
        rel = f"images/{image_id}.{fmt}"
        (tmp_path / "images").mkdir(exist_ok=True)
        image.save(tmp_path / rel, quality=90)
        data = (tmp_path / rel).read_bytes()
        rows.append(dict(image_id=image_id, view="web", super_category="aircraft", category=category,
                         split=split, path=rel, sha256=hashlib.sha256(data).hexdigest(),
                         width=image.size[0], height=image.size[1], source="test"))

    for i in range(12):
        add(f"u{i:02d}", fixtures.photo((200, 150), seed=500 + i))
    base = fixtures.photo((240, 180), seed=42)
    add("orig", base)
    for name, image in _variants(base).items():
        add(f"orig-{name}", image)
    (tmp_path / "images/copy.jpg").write_bytes((tmp_path / "images/u00.jpg").read_bytes())
    rows.append({**rows[0], "image_id": "u00-copy", "path": "images/copy.jpg"})
    (tmp_path / "images/broken.jpg").write_bytes(b"not an image")
    rows.append({**rows[1], "image_id": "broken", "path": "images/broken.jpg",
                 "sha256": hashlib.sha256(b"not an image").hexdigest()})
    manifest.write_manifest(manifest.new_rows(rows), tmp_path)
    return tmp_path


def test_dedup_groups_planted_copies(dup_dataset):
    result = dedup.dedup_dataset(dup_dataset, radius=10, workers=1, quiet=True)
    group = dict(zip(result.frame["image_id"], result.frame["dup_group"]))
    assert group["u00"] == group["u00-copy"] and not pd_isna(group["u00"])
    for name in ("resized", "brighter", "cropped"):
        assert group[f"orig-{name}"] == group["orig"], name
    assert pd_isna(group["orig-mirror"])  # without --flip a mirror is a different image
    assert sum(not pd_isna(g) for g in group.values()) == 6
    assert "broken" in result.failed
    saved = manifest.read_manifest(dup_dataset)
    assert saved["phash"].notna().sum() == len(saved) - 1
    report = json.loads(result.report.read_text())
    assert report["pairs_by_kind"]["exact"] == 1 and report["groups"] == 2


def test_dedup_cli_with_flip_and_crops(dup_dataset):
    out = dup_dataset / "pairs.json"
    result = CliRunner().invoke(main, ["dedup", str(dup_dataset), "--radius", "6", "--flip", "--crops", "--exact",
                                       "--report", str(out), "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    frame = manifest.read_manifest(dup_dataset)
    group = dict(zip(frame["image_id"], frame["dup_group"]))
    assert group["orig-mirror"] == group["orig"] == group["orig-cropped"]
    pairs = json.loads(out.read_text())["pairs"]
    assert any(p["kind"] == "flip" and "orig-mirror" in (p["a"], p["b"]) for p in pairs)
    assert {"orig", "orig-cropped"} in [{p["a"], p["b"]} for p in pairs if p["kind"] == "crop"]
    assert sum(not pd_isna(g) for g in group.values()) == 7
    hashes = dict(zip(frame["image_id"], frame["phash"]))
    assert hashes["orig"] == str(imagehash.phash(Image.open(dup_dataset / "images/orig.jpg")))


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_popcount_fallback_without_numpy2(monkeypatch):
    x = np.random.default_rng(0).integers(0, 2**64 - 1, (50, 3), dtype=np.uint64, endpoint=True)
    expected = np.array([[bin(int(v)).count("1") for v in row] for row in x])
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(search.popcount(x), expected)


def test_verify_keeps_planted_copies(dup_dataset):
    result = dedup.dedup_dataset(dup_dataset, radius=8, flip=True, crops=True, verify=True, workers=1, quiet=True)
    group = dict(zip(result.frame["image_id"], result.frame["dup_group"]))
    for name in ("resized", "brighter", "cropped", "mirror"):
        assert group[f"orig-{name}"] == group["orig"], name
    report = json.loads(result.report.read_text())
    assert report["verify_radius"] == dedup.VERIFY_RADIUS and report["rejected_by_verify"] >= 0
    assert manifest.read_card(dup_dataset)["dedup"]["verify"] is True


def test_verify_pairs_rejects_a_disagreeing_second_hash():
    pairs = dedup.Pairs(np.array([0, 2]), np.array([1, 3]), np.array([5, 5], np.uint8),
                        np.array(["near", "near"], dtype=object))
    far = np.uint64((1 << 20) - 1)  # 20 bits apart
    second = hashing.HashResult(np.array([7, 7, 0, far], dtype=np.uint64), None, np.ones(4, bool), {})
    kept = dedup.verify_pairs(pairs, second, np.arange(4), radius=12)
    assert kept.i.tolist() == [0] and kept.j.tolist() == [1]
    flipped = np.array([0, 0, far, 0], dtype=np.uint64)  # row 2's mirror equals row 3
    second_flip = hashing.HashResult(second.hashes, flipped, np.ones(4, bool), {})
    assert len(dedup.verify_pairs(pairs, second_flip, np.arange(4), radius=12)) == 2
