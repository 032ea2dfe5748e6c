#!/usr/bin/env python3
"""Generate a tiny fake ShipRSImageNet V1 (VOC_Format and COCO_Format, level 3, random pixels).

``python data.py [OUT]`` writes the dataset (default: ./ShipRSImageNet_V1 next
to this file) and prints its sha256; tests import :func:`generate`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

#: level-3 name -> the category it must map to (None: not a ship, skipped)
CLASSES = {
    "Arleigh Burke DD": "arleigh-burke-class",
    "Wasp LL": "wasp-class",
    "Container Ship": "container-ship",
    "Fishing Vessel": "fishing-vessel",
    "Other Merchant": "merchant-other",
    "Dock": None,
}
IMAGES = (("000001", "train"), ("000002", "train"), ("000003", "train"), ("000004", "val"), ("000005", "val"))
OUR_SPLIT = {"train": "train", "val": "test"}
SIZE = (128, 128)
LEVELS = {  # level_0 .. level_2 of the classes used
    "Arleigh Burke DD": ("Ship", "Warship", "Destroyer"), "Wasp LL": ("Ship", "Warship", "Landing"),
    "Container Ship": ("Ship", "Merchant", "Container Ship"), "Fishing Vessel": ("Ship", "Merchant", "Fishing Vessel"),
    "Other Merchant": ("Ship", "Merchant", "Other Merchant"), "Dock": ("Dock", "Dock", "Dock"),
}  # fmt: skip


def generate(root: str | Path, seed: int = 0) -> list[dict]:
    """Write the fake dataset under ``root``; return one dict per object (expected outcome)."""
    root = Path(root)
    rng = random.Random(seed)
    pixels = np.random.default_rng(seed)
    voc, coco_dir = root / "VOC_Format", root / "COCO_Format"
    for d in (voc / "JPEGImages", voc / "Annotations", voc / "ImageSets", coco_dir):
        d.mkdir(parents=True, exist_ok=True)
    names = sorted(CLASSES)
    coco = {
        s: {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
        for s in ("train", "val")
    }  # noqa: E501
    expected, ann_id = [], 0
    for img_id, (stem, split) in enumerate(IMAGES, 1):
        Image.fromarray(pixels.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(
            voc / "JPEGImages" / f"{stem}.bmp"
        )
        coco[split]["images"].append({"id": img_id, "file_name": f"{stem}.bmp", "width": SIZE[0], "height": SIZE[1]})
        objects = ""
        for k in range(3):
            label = names[(img_id + k) % len(names)] if k else rng.choice(names)
            w, h, ang = rng.uniform(24, 50), rng.uniform(10, 18), rng.uniform(-math.pi / 2, math.pi / 2)
            cx, cy = rng.uniform(28, SIZE[0] - 28), rng.uniform(28, SIZE[1] - 28)
            c, s = math.cos(ang), math.sin(ang)
            quad = [
                (cx + dx * c - dy * s, cy + dx * s + dy * c)
                for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
            ]  # noqa: E501
            xs, ys = [round(p[0]) for p in quad], [round(p[1]) for p in quad]
            box = (min(xs), min(ys), max(xs), max(ys))
            lv = LEVELS[label]
            objects += (
                f"\t<object>\n\t\t<name>{label}</name>\n\t\t<Ship_ID>{ann_id + 1}</Ship_ID>\n"
                f"\t\t<level_0>{lv[0]}</level_0>\n"
                f"\t\t<level_1>{lv[1]}</level_1>\n\t\t<level_2>{lv[2]}</level_2>\n\t\t<level_3>{label}</level_3>\n"
                f"\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
                + "".join(f"\t\t\t<{t}>{v}</{t}>\n" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
                + "\t\t</bndbox>\n\t\t<polygon>\n"
                + "".join(
                    f"\t\t\t<x{i}>{x}</x{i}>\n\t\t\t<y{i}>{y}</y{i}>\n" for i, (x, y) in enumerate(zip(xs, ys), 1)
                )
                + "\t\t</polygon>\n\t</object>\n"
            )
            ann_id += 1
            coco[split]["annotations"].append(
                {
                    "id": ann_id, "image_id": img_id, "category_id": names.index(label) + 1, "iscrowd": 0,
                    "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                    "area": (box[2] - box[0]) * (box[3] - box[1]),
                    "segmentation": [[v for xy in zip(xs, ys) for v in xy]],
                }
            )  # fmt: skip
            for fmt in ("shiprsimagenet", "shiprsimagenet-coco"):
                expected.append(
                    {
                        "format": fmt,
                        "image_id": f"{fmt}-{stem}-{k:03d}",
                        "category": CLASSES[label],
                        "box": box,
                        "source_image": f"VOC_Format/JPEGImages/{stem}.bmp",
                        "image_size": SIZE,
                        "split": OUR_SPLIT[split],
                        "kept": CLASSES[label] is not None,
                    }
                )
        (voc / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation>\n\t<folder>ShipRSImageNet</folder>\n\t<filename>{stem}.bmp</filename>\n"
            f"\t<source>\n\t\t<database>ShipRSImageNet</database>\n\t</source>\n"
            f"\t<size>\n\t\t<width>{SIZE[0]}</width>\n\t\t<height>{SIZE[1]}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
            f"\t<segmented>0</segmented>\n{objects}</annotation>\n"
        )
    for split in ("train", "val", "test"):
        (voc / "ImageSets" / f"{split}.txt").write_text("".join(f"{s}\n" for s, sp in IMAGES if sp == split))
        if split in coco:
            (coco_dir / f"ShipRSImageNet_bbox_{split}_level_3.json").write_text(json.dumps(coco[split]))
    return expected


def tree_sha256(root: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "ShipRSImageNet_V1"
    generate(out)
    print(f"{out}: sha256 {tree_sha256(out)}")
