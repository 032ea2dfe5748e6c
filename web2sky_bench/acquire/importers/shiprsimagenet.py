"""ShipRSImageNet V1: fine-grained ships, VOC XML or COCO JSON, level-3 labels (50 classes).

Layout::

    ShipRSImageNet_V1/
      VOC_Format/JPEGImages/<id>.bmp
      VOC_Format/Annotations/<id>.xml       (<object> with <level_3> (or <name>), <bndbox>, <polygon> x1..y4)
      VOC_Format/ImageSets/train.txt, val.txt, test.txt
      COCO_Format/ShipRSImageNet_bbox_{train,val}_level_3.json

The official test labels are withheld, so the official **val** becomes our
**test** and our val is carved from train (see :mod:`base`). ``Dock`` is not
a ship and is skipped. Images carry no GSD in either format
(``Img_Resolution`` is read when an XML has it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from web2sky_bench.acquire.importers.base import (
    Importer,
    SourceImage,
    SourceObject,
    find_image,
    optional_float,
    parse_xml,
    read_list,
    require_dir,
    text,
)
from web2sky_bench.acquire.importers.voc import voc_objects
from web2sky_bench.errors import Web2SkyError

#: official split -> our split (test labels are withheld upstream)
SPLIT_MAP = {"train": "train", "val": "test"}
COCO_FILE = "ShipRSImageNet_bbox_{split}_level_3.json"
#: the 50 level-3 classes (``Dock`` is not a ship)
LEVEL3_CLASSES = (
    "Other Ship", "Other Warship", "Submarine", "Other Aircraft Carrier", "Enterprise", "Nimitz", "Midway",
    "Ticonderoga", "Other Destroyer", "Atago DD", "Arleigh Burke DD", "Hatsuyuki DD", "Hyuga DD", "Asagiri DD",
    "Other Frigate", "Perry FF", "Patrol", "Other Landing", "YuTing LL", "YuDeng LL", "YuDao LL", "YuZhao LL",
    "Austin LL", "Osumi LL", "Wasp LL", "LSD 41 LL", "LHA LL", "Commander", "Other Auxiliary Ship", "Medical Ship",
    "Test Ship", "Training Ship", "AOE", "Masyuu AS", "Sanantonio AS", "EPF", "Other Merchant", "Container Ship",
    "RoRo", "Cargo", "Barge", "Tugboat", "Ferry", "Yacht", "Sailboat", "Fishing Vessel", "Oil Tanker", "Hovercraft",
    "Motorboat", "Dock",
)  # fmt: skip


def _root(src: Path) -> Path:
    """Accept the dataset folder or its parent (``ShipRSImageNet_V1/``)."""
    nested = src / "ShipRSImageNet_V1"
    return nested if nested.is_dir() and not (src / "VOC_Format").is_dir() else src


class ShipRSImageNetImporter(Importer):
    """ShipRSImageNet VOC XML (level 3) -> ship chips."""

    name = "shiprsimagenet"
    label_dataset = "shiprsimagenet"
    ignored_labels = frozenset({"Dock"})
    title = "ShipRSImageNet V1 (VOC)"

    def scan(self, src: Path) -> Iterator[SourceImage]:
        voc = _root(src) / "VOC_Format"
        annotations = require_dir(voc / "Annotations", "ShipRSImageNet VOC annotations")
        sets = voc / "ImageSets" if (voc / "ImageSets" / "train.txt").is_file() else voc / "ImageSets" / "Main"
        lists = {ours: read_list(sets / f"{official}.txt") for official, ours in SPLIT_MAP.items()}
        for xml in sorted(annotations.glob("*.xml")):
            root = parse_xml(xml)
            stem = Path(text(root, "filename") or xml.stem).stem
            split = next((name for name, ids in lists.items() if stem in ids), None)
            yield SourceImage(
                key=stem,
                path=find_image(voc / "JPEGImages", stem),
                objects=voc_objects(root, xml, label_tags=("level_3", "name")),
                split=split,
                gsd_m=optional_float(text(root, "Img_Resolution")),
            )


class ShipRSImageNetCocoImporter(ShipRSImageNetImporter):
    """ShipRSImageNet COCO JSON (level 3) -> ship chips."""

    name = "shiprsimagenet-coco"
    title = "ShipRSImageNet V1 (COCO)"

    def scan(self, src: Path) -> Iterator[SourceImage]:
        root = _root(src)
        images = root / "VOC_Format" / "JPEGImages"
        found = False
        for official, ours in SPLIT_MAP.items():
            path = root / "COCO_Format" / COCO_FILE.format(split=official)
            if not path.is_file():
                continue
            found = True
            try:
                coco = json.loads(path.read_text(encoding="utf-8"))
                names = {c["id"]: c["name"] for c in coco["categories"]}
                by_image: dict[int, list[SourceObject]] = {img["id"]: [] for img in coco["images"]}
                for ann in coco["annotations"]:
                    x, y, w, h = (float(v) for v in ann["bbox"])
                    seg = ann.get("segmentation") or []
                    poly = seg[0] if seg and isinstance(seg[0], list) and len(seg[0]) >= 8 else None
                    quad = tuple((float(poly[i]), float(poly[i + 1])) for i in range(0, 8, 2)) if poly else None
                    by_image[ann["image_id"]].append(
                        SourceObject(label=names[ann["category_id"]], box=(x, y, x + w, y + h), quad=quad)
                    )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise Web2SkyError(f"{path} is not a valid COCO annotation file: {exc!r}") from exc
            for img in sorted(coco["images"], key=lambda i: i["file_name"]):
                stem = Path(img["file_name"]).stem
                yield SourceImage(key=stem, path=images / img["file_name"], objects=by_image[img["id"]], split=ours)
        if not found:
            expected = root / "COCO_Format" / COCO_FILE.format(split="train")
            raise Web2SkyError(f"ShipRSImageNet COCO annotations not found: expected {expected}")
