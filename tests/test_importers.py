"""Importers: each fixture generator's dataset becomes a valid manifest, checked object by object."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from web2sky_bench import cli
from web2sky_bench.acquire.importers import fair1m, fgsc23, hrsc2016, mar20, shiprsimagenet
from web2sky_bench.acquire.importers.base import ChipOptions
from web2sky_bench.acquire.importers.geometry import OrientedRect, crop_rotated, rbox_to_quad
from web2sky_bench.acquire.importers.registry import FORMATS, get_importer, import_dataset
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.manifest import read_card, read_manifest

DATA = Path(__file__).parent / "data"
#: format -> fixture generator folder
GENERATORS = {
    "mar20": "mar20",
    "hrsc2016": "hrsc2016",
    "shiprsimagenet": "shiprsimagenet",
    "shiprsimagenet-coco": "shiprsimagenet",
    "dota": "dota",
    "fair1m": "fair1m",
    "fgsc23": "fgsc23",
}
#: formats whose official lists include val (no carve-out)
HAS_VAL_LIST = {"hrsc2016"}


def load_generator(name: str):
    """Import ``tests/data/<name>/data.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", DATA / name / "data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generate(fmt: str, root: Path) -> list[dict]:
    objects = load_generator(GENERATORS[fmt]).generate(root)
    return [o for o in objects if o.get("format", fmt) == fmt]


@pytest.mark.parametrize("fmt", sorted(GENERATORS))
def test_import_checks_every_object(fmt, tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    expected = generate(fmt, src)
    card = import_dataset(fmt, src, out, ChipOptions(padding=0.2, min_size=8, val_fraction=0.5), quiet=True)
    frame = read_manifest(out)  # validates against the contract and the taxonomy
    rows = {r["image_id"]: r for r in frame.to_dict("records")}
    kept = [o for o in expected if o["kept"]]
    assert len(kept) >= 5
    if fmt != "hrsc2016":  # every other fixture has objects the importer must skip
        assert any(not o["kept"] for o in expected)
    assert sorted(rows) == sorted(o["image_id"] for o in kept)
    assert card["counts"]["images"] == len(kept)
    for obj in kept:
        row = rows[obj["image_id"]]
        width, height = obj["image_size"]
        x0, y0, x1, y1 = row["bbox"]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (obj["image_id"], row["bbox"])
        bx0, by0, bx1, by1 = obj["box"]
        # the chip region holds the (clipped) object box
        assert x0 <= max(bx0, 0) + 1e-6 and y0 <= max(by0, 0) + 1e-6, obj["image_id"]
        assert x1 >= min(bx1, width) - 1e-6 and y1 >= min(by1, height) - 1e-6, obj["image_id"]
        assert row["category"] == obj["category"], obj["image_id"]
        assert row["source_image"] == obj["source_image"]
        assert (src / row["source_image"]).is_file()
        if obj["split"] == "train" and fmt not in HAS_VAL_LIST:
            assert row["split"] in ("train", "val")
        else:
            assert row["split"] == obj["split"]
        with Image.open(out / row["path"]) as chip:
            assert chip.size == (row["width"], row["height"]) == (round(x1 - x0), round(y1 - y0))
        assert row["view"] == "aerial" and row["source"] == fmt
        if "gsd_m" in obj:
            assert pd.isna(row["gsd_m"]) if obj["gsd_m"] is None else math.isclose(row["gsd_m"], obj["gsd_m"])
        if obj.get("difficult"):
            assert "difficult" in row["issues"]


@pytest.mark.parametrize("fmt", ["mar20", "hrsc2016", "dota", "fair1m", "shiprsimagenet"])
def test_rotated_import_levels_chips(fmt, tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    expected = {o["image_id"]: o for o in generate(fmt, src) if o["kept"]}
    import_dataset(fmt, src, out, ChipOptions(padding=0.0, rotate=True, min_size=8), quiet=True)
    frame = read_manifest(out)
    assert set(frame["image_id"]) == set(expected)
    for row in frame.to_dict("records"):
        obj = expected[row["image_id"]]
        x0, y0, x1, y1 = row["bbox"]
        assert 0 <= x0 < x1 <= obj["image_size"][0] and 0 <= y0 < y1 <= obj["image_size"][1]
        assert row["category"] == obj["category"]
        assert row["width"] >= row["height"]  # long side horizontal


def test_crop_rotated_levels_a_drawn_rectangle():
    image = Image.new("RGB", (200, 200))
    quad = rbox_to_quad(100, 90, 80, 20, math.radians(35))
    ImageDraw.Draw(image).polygon(quad, fill=(255, 255, 255))
    chip, region = crop_rotated(image, OrientedRect.from_quad(quad), padding=0.0)
    assert abs(chip.size[0] - 80) <= 1 and abs(chip.size[1] - 20) <= 1
    inner = chip.crop((3, 3, chip.size[0] - 3, chip.size[1] - 3)).convert("L")
    assert inner.getextrema()[0] > 200  # all object, no background
    padded, _ = crop_rotated(image, OrientedRect.from_quad(quad), padding=0.5)
    assert padded.convert("L").getpixel((2, 2)) < 50  # context around the object
    assert region[0] < 100 < region[2]


def test_generators_are_deterministic(tmp_path):
    for name in sorted(set(GENERATORS.values())):
        module = load_generator(name)
        module.generate(tmp_path / f"{name}-a", seed=3)
        module.generate(tmp_path / f"{name}-b", seed=3)
        assert module.tree_sha256(tmp_path / f"{name}-a") == module.tree_sha256(tmp_path / f"{name}-b")


def test_import_is_deterministic_and_card_records_options(tmp_path):
    generate("mar20", tmp_path / "src")
    options = ChipOptions(padding=0.3, val_fraction=0.5, seed=7)
    import_dataset("mar20", tmp_path / "src", tmp_path / "a", options, quiet=True)
    import_dataset("mar20", tmp_path / "src", tmp_path / "b", options, quiet=True)
    a, b = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    assert a["sha256"].tolist() == b["sha256"].tolist() and a["split"].tolist() == b["split"].tolist()
    card = read_card(tmp_path / "a")
    assert card["importer"]["padding"] == 0.3 and card["skipped"] == {"too_small": 1}


def test_every_label_of_each_dataset_maps_to_the_taxonomy():
    tables = {
        "mar20": mar20.LABELS,
        "hrsc2016": list(hrsc2016.CLASS_NAMES.values()),
        "shiprsimagenet": shiprsimagenet.LEVEL3_CLASSES,
        "fair1m": fair1m.TARGET_CLASSES,
        "fgsc23": list(fgsc23.CLASS_NAMES),
    }
    for fmt, labels in tables.items():
        importer = get_importer(fmt)
        mapped = {label: importer.category(label) for label in labels}
        assert all(mapped[label] for label in labels if label not in importer.ignored_labels), fmt
    assert get_importer("mar20").category("A16") == "fa-18"
    assert get_importer("hrsc2016").category(hrsc2016.class_name("100000030", Path("x"))) == "car-carrier"


def test_unknown_label_is_an_actionable_error(tmp_path):
    generate("dota", tmp_path / "dota")  # DOTA skips unknown classes: it has a closed list
    generate("mar20", tmp_path / "src")
    xml = tmp_path / "src/Annotations/Horizontal Bounding Boxes/1.xml"
    xml.write_text(xml.read_text().replace("<name>A", "<name>B", 1))
    with pytest.raises(Web2SkyError, match="unknown mar20 label 'B"):
        import_dataset("mar20", tmp_path / "src", tmp_path / "out", quiet=True)


def test_refuses_to_overwrite_without_force_and_bad_layouts(tmp_path):
    generate("fgsc23", tmp_path / "src")
    import_dataset("fgsc23", tmp_path / "src", tmp_path / "out", quiet=True)
    with pytest.raises(Web2SkyError, match="--force"):
        import_dataset("fgsc23", tmp_path / "src", tmp_path / "out", quiet=True)
    import_dataset("fgsc23", tmp_path / "src", tmp_path / "out", quiet=True, force=True)
    with pytest.raises(Web2SkyError, match="HRSC2016 annotations not found"):
        import_dataset("hrsc2016", tmp_path / "src", tmp_path / "h", quiet=True)
    with pytest.raises(Web2SkyError, match="unknown import format"):
        get_importer("voc")
    with pytest.raises(Web2SkyError, match="--padding"):
        ChipOptions(padding=-1)


def test_cli_import(tmp_path):
    generate("hrsc2016", tmp_path / "src")
    runner = CliRunner()
    result = runner.invoke(
        cli.main,
        [
            "import",
            "hrsc2016",
            str(tmp_path / "src"),
            "--out",
            str(tmp_path / "out"),
            "--padding",
            "0.5",
            "--rotate",
            "--min-size",
            "4",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "imported 12 chips" in result.output
    assert len(read_manifest(tmp_path / "out")) == 12
    again = runner.invoke(cli.main, ["import", "hrsc2016", str(tmp_path / "src"), "--out", str(tmp_path / "out")])
    assert again.exit_code == 2 and "--force" in again.output
    choices = next(p for p in cli.import_cmd.params if p.name == "fmt").type.choices
    assert sorted(choices) == sorted(FORMATS)


def test_voc_oriented_box_forms(tmp_path):
    xml = (
        "<annotation><object><name>A5</name><robndbox><cx>50</cx><cy>40</cy><w>20</w><h>10</h>"
        "<angle>0</angle></robndbox></object><object><name>Small Car</name><robndbox>"
        + "".join(
            f"<x_{c}>{x}</x_{c}><y_{c}>{y}</y_{c}>"
            for c, (x, y) in zip(
                ("left_top", "right_top", "right_bottom", "left_bottom"), ((1, 2), (9, 2), (9, 6), (1, 6))
            )
        )
        + "</robndbox></object></annotation>"
    )
    (tmp_path / "a.xml").write_text(xml)
    from web2sky_bench.acquire.importers.base import parse_xml
    from web2sky_bench.acquire.importers.voc import voc_objects

    first, second = voc_objects(parse_xml(tmp_path / "a.xml"), tmp_path / "a.xml")
    assert first.box == (40.0, 35.0, 60.0, 45.0) and len(first.quad) == 4
    assert second.box == (1.0, 2.0, 9.0, 6.0)
    assert get_importer("fair1m").category("small car") is None  # ignored labels match like taxonomy labels
