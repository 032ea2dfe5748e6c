"""The image-folder importer: layouts, class-name variants, class maps, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from web2sky_bench.acquire.importers.image_folder import (
    import_image_folder,
    load_class_map,
    scan_image_folder,
)
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.manifest import file_sha256, read_card, read_manifest


def make_tree(root: Path, rel_paths: list[str]) -> None:
    """Write a tiny distinct PNG at each relative path."""
    for i, rel in enumerate(rel_paths):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16 + i, 12), (i * 9 % 255, 30, 200)).save(path, format="PNG")


def test_view_split_class_layout_with_name_variants(tmp_path):
    src = tmp_path / "release"
    make_tree(src, [
        "Web2Sky-ship/web/train/Nimitz Class/a.jpg",
        "Web2Sky-ship/web/train/container_ship/b.png",
        "Web2Sky-ship/aerial/test/NIMITZ-CLASS/c.png",
        "Web2Sky-ship/aerial/test/Arleigh Burke/d.png",
        "Web2Sky-ship/Aerial/Val/Arleigh.Burke/e.png",
    ])
    out = import_image_folder(src, tmp_path / "ds", name="web2sky-ship", quiet=True)
    frame = read_manifest(out).sort_values("path")
    got = {(r.view, r.split, r.category) for r in frame.itertuples()}
    assert got == {("web", "train", "nimitz-class"), ("web", "train", "container-ship"),
                   ("aerial", "test", "nimitz-class"), ("aerial", "test", "arleigh-burke-class"),
                   ("aerial", "val", "arleigh-burke-class")}
    assert set(frame["super_category"]) == {"ship"}
    for r in frame.itertuples():
        assert file_sha256(out / r.path) == r.sha256
    assert read_card(out)["counts"]["images"] == 5
    assert {p.name for p in tmp_path.iterdir()} == {"release", "ds"}  # no temp folder left


def test_split_on_top_and_missing_view_level(tmp_path):
    src = tmp_path / "release"
    make_tree(src, ["train/aerial/F16/a.png", "test/web/f-16/b.png", "TRAINING/c-130/c.png"])
    with pytest.raises(Web2SkyError, match="no view folder .* pass --view"):
        import_image_folder(src, tmp_path / "ds", name="x", quiet=True)
    out = import_image_folder(src, tmp_path / "ds", name="x", view="aerial", quiet=True)
    frame = read_manifest(out)
    rows = {(r.view, r.split, r.category) for r in frame.itertuples()}
    assert rows == {("aerial", "train", "f-16"), ("web", "test", "f-16"), ("aerial", "train", "c-130")}


def test_ids_are_stable_across_imports(tmp_path):
    src = tmp_path / "release"
    make_tree(src, ["web/train/F16/a.png", "aerial/test/F16/a.png"])
    a = read_manifest(import_image_folder(src, tmp_path / "a", name="t", quiet=True))
    b = read_manifest(import_image_folder(src, tmp_path / "b", name="t", quiet=True))
    assert sorted(a["image_id"]) == sorted(b["image_id"]) and a["image_id"].is_unique


def test_unknown_classes_listed_with_closest_matches(tmp_path):
    src = tmp_path / "release"
    make_tree(src, ["web/train/Nimitzz/a.png", "web/train/Zumwalt destroyer/b.png", "web/train/F16/c.png"])
    with pytest.raises(Web2SkyError) as info:
        import_image_folder(src, tmp_path / "ds", name="x", quiet=True)
    msg = str(info.value)
    assert "2 class folder name(s)" in msg
    assert "'Nimitzz': closest matches: nimitz-class" in msg
    assert "'Zumwalt destroyer'" in msg and "--class-map" in msg
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_class_map_file(tmp_path, fmt):
    src = tmp_path / "release"
    make_tree(src, ["web/train/Nimitzz/a.png", "web/train/Zumwalt destroyer/b.png"])
    cmap = tmp_path / f"map.{fmt}"
    if fmt == "csv":
        cmap.write_text("folder,category\nnimitzz,nimitz-class\nZumwalt destroyer,destroyer\n")
    else:
        cmap.write_text(json.dumps({"Nimitzz": "Nimitz", "zumwalt-destroyer": "destroyer-other"}))
    assert len(load_class_map(cmap)) == 2
    frame = read_manifest(import_image_folder(src, tmp_path / "ds", name="x", class_map=cmap, quiet=True))
    assert set(frame["category"]) == {"nimitz-class", "destroyer-other"}


def test_bad_class_map_target_is_reported(tmp_path):
    src = tmp_path / "release"
    make_tree(src, ["web/train/Nimitzz/a.png"])
    with pytest.raises(Web2SkyError, match=r"'Nimitzz' \(mapped to 'nimits'\)"):
        import_image_folder(src, tmp_path / "ds", name="x", class_map={"Nimitzz": "nimits"}, quiet=True)


def test_layout_errors(tmp_path):
    make_tree(tmp_path / "flat", ["a.png"])
    with pytest.raises(Web2SkyError, match="folder named after their class"):
        scan_image_folder(tmp_path / "flat")
    make_tree(tmp_path / "nocls", ["web/train/a.png"])
    with pytest.raises(Web2SkyError, match="view or split name, not a class"):
        scan_image_folder(tmp_path / "nocls")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Web2SkyError, match="no images"):
        scan_image_folder(tmp_path / "empty")


def test_unreadable_images_are_skipped_and_recorded(tmp_path):
    src = tmp_path / "release"
    make_tree(src, ["web/train/F16/a.png"])
    (src / "web/train/F16/broken.jpg").write_bytes(b"not an image")
    out = import_image_folder(src, tmp_path / "ds", name="x", quiet=True)
    assert len(read_manifest(out)) == 1
    assert read_card(out)["unreadable_skipped"] == ["web/train/F16/broken.jpg"]


def test_existing_output_needs_force(tmp_path):
    src = tmp_path / "release"
    make_tree(src, ["web/train/F16/a.png"])
    import_image_folder(src, tmp_path / "ds", name="x", quiet=True)
    with pytest.raises(Web2SkyError, match="already exists"):
        import_image_folder(src, tmp_path / "ds", name="x", quiet=True)
    make_tree(src, ["web/train/F16/b.png"])
    assert len(read_manifest(import_image_folder(src, tmp_path / "ds", name="x", force=True, quiet=True))) == 2
