"""Cleaning checks on a fixture of malformed and poor images."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from web2sky_bench import manifest
from web2sky_bench.cli import main
from web2sky_bench.curate import clean
from web2sky_bench.errors import Web2SkyError

_spec = importlib.util.spec_from_file_location("malformed_data", Path(__file__).parent / "data/malformed/data.py")
malformed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(malformed)


def _size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            w, h = im.size
            return (w, h) if 0 < w * h < 10**8 else (1, 1)
    except Exception:
        return (1, 1)


@pytest.fixture
def malformed_dataset(tmp_path) -> tuple[Path, dict[str, str | None]]:
    expected = malformed.generate(tmp_path)
    rows = []
    for name in expected:
        path = tmp_path / "images" / name
        data = path.read_bytes() if path.exists() else b""
        w, h = _size(path) if path.exists() else (1, 1)
        rows.append(dict(image_id=name, view="web", super_category="aircraft", category="f-16",
                         split="train", path=f"images/{name}", sha256=hashlib.sha256(data).hexdigest(),
                         width=w, height=h, source="test"))
    manifest.write_manifest(manifest.new_rows(rows), tmp_path)
    manifest.write_card(tmp_path, "malformed", "1")
    return tmp_path, expected


def test_every_malformed_kind_is_reported_with_its_reason(malformed_dataset):
    folder, expected = malformed_dataset
    kinds = {issue for issue in expected.values() if issue}
    assert len(expected) - list(expected.values()).count(None) >= 20
    assert len(kinds) >= 16  # 29 malformed files, 16 distinct issue names
    result = CliRunner().invoke(main, ["clean", str(folder), "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    frame = manifest.read_manifest(folder)
    issues = dict(zip(frame["image_id"], frame["issues"]))
    report = json.loads((folder / "reports/clean.json").read_text())
    for name, issue in expected.items():
        if issue is None:
            assert issues[name] == [], (name, issues[name])
        else:
            assert issue in issues[name], (name, issues[name])
            assert report["findings"][name]["reasons"][issue], name
    assert report["findings"]["cmyk.jpg"]["notes"] == ["mode:CMYK"]
    assert report["findings"]["deep16.png"]["notes"] == ["mode:I;16"]
    assert "exif:orientation=6" in report["findings"]["exif_rotated.jpg"]["notes"]
    assert report["issue_counts"]["not_an_image"] == 6
    # the card was refreshed to the new manifest
    assert manifest.read_card(folder)["manifest_sha256"] == manifest.file_sha256(folder / "manifest.parquet")


def test_drop_and_delete_files(malformed_dataset):
    folder, expected = malformed_dataset
    result = clean.clean_dataset(folder, drop=True, delete_files=True, workers=2, quiet=True)
    kept = set(result.frame["image_id"])
    assert "good.jpg" in kept and "cmyk.jpg" in kept
    assert "grayscale.jpg" in kept  # grayscale is reported but not dropped by default
    assert "html_page.jpg" not in kept and "blurry.png" not in kept
    assert not (folder / "images/html_page.jpg").exists()
    assert (folder / "images/grayscale.jpg").exists()
    assert len(manifest.read_manifest(folder)) == len(kept)


def test_flagged_files_stay_without_delete_files(malformed_dataset):
    folder, _ = malformed_dataset
    clean.clean_dataset(folder, drop=True, drop_issues=["not_an_image"], workers=1, quiet=True)
    frame = manifest.read_manifest(folder)
    assert "html_page.jpg" not in set(frame["image_id"]) and "blurry.png" in set(frame["image_id"])
    assert (folder / "images/html_page.jpg").exists()


def test_threshold_override_and_errors(malformed_dataset):
    folder, _ = malformed_dataset
    image = folder / "images/good.jpg"
    assert "too_small" not in clean.inspect_image(image).issues
    table = clean.thresholds_table({"too_small": 500})
    assert "too_small" in clean.inspect_image(image, table).issues
    with pytest.raises(Web2SkyError, match="no scored check"):
        clean.thresholds_table({"zero_byte": 1})
    with pytest.raises(Web2SkyError, match="add --drop"):
        clean.clean_dataset(folder, delete_files=True)
    result = CliRunner().invoke(main, ["clean", str(folder / "nope")])
    assert result.exit_code == 2 and "not found" in result.output


def test_process_pool_gives_the_same_findings(tmp_path):
    rows = []
    for i in range(70):
        rel = f"images/{i:02d}.png"
        (tmp_path / "images").mkdir(exist_ok=True)
        image = malformed.photo((48, 36), seed=i) if i % 10 else Image.new("RGB", (48, 36), (9, 9, 9))
        image.save(tmp_path / rel)
        rows.append(dict(image_id=f"i{i:02d}", view="aerial", super_category="aircraft", category="f-16",
                         split="train", path=rel, sha256=hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest(),
                         width=48, height=36, source="test"))
    manifest.write_manifest(manifest.new_rows(rows), tmp_path)
    serial = clean.clean_dataset(tmp_path, workers=1, quiet=True).frame["issues"].tolist()
    pooled = clean.clean_dataset(tmp_path, workers=2, quiet=True).frame["issues"].tolist()
    assert serial == pooled
    assert sum("too_dark" in issues for issues in pooled) == 7
