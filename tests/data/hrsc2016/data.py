#!/usr/bin/env python3
"""Generate a tiny fake HRSC2016 (FullDataSet layout, HRSC_Image XML, random pixels).

``python data.py [OUT]`` writes the dataset (default: ./HRSC2016 next to this
file) and prints its sha256; tests import :func:`generate`.
"""

from __future__ import annotations

import hashlib
import math
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

#: Class_ID -> the category it must map to
CLASSES = {
    "100000001": "ship-other",
    "100000005": "nimitz-class",
    "100000007": "arleigh-burke-class",
    "100000008": "whidbey-island-class",
    "100000015": "austin-class",
    "100000025": "container-ship",
    "100000030": "car-carrier",
    "100000033": "invincible-class",
}
IMAGES = (("100000001", "train"), ("100000002", "train"), ("100000003", "val"), ("100000004", "test"))
SIZE = (140, 110)
GSD = 1.07


def _object(n: int, class_id: str, box, mbox, difficult: int) -> str:
    fields = {
        "Object_ID": f"1{n:08d}", "Class_ID": class_id, "Object_NO": f"1{n:08d}", "truncated": 0,
        "difficult": difficult, "box_xmin": box[0], "box_ymin": box[1], "box_xmax": box[2], "box_ymax": box[3],
        "mbox_cx": f"{mbox[0]:.4f}", "mbox_cy": f"{mbox[1]:.4f}", "mbox_w": f"{mbox[2]:.4f}",
        "mbox_h": f"{mbox[3]:.4f}", "mbox_ang": f"{mbox[4]:.4f}", "header_x": round(mbox[0]),
        "header_y": round(mbox[1]),
    }  # fmt: skip
    return (
        "      <HRSC_Object>\n"
        + "".join(f"        <{k}>{v}</{k}>\n" for k, v in fields.items())
        + "      </HRSC_Object>\n"
    )


def generate(root: str | Path, seed: int = 0) -> list[dict]:
    """Write the fake dataset under ``root``; return one dict per object (expected outcome)."""
    root = Path(root)
    rng = random.Random(seed)
    pixels = np.random.default_rng(seed)
    for d in ("FullDataSet/AllImages", "FullDataSet/Annotations", "ImageSets"):
        (root / d).mkdir(parents=True, exist_ok=True)
    expected, n = [], 0
    for stem, split in IMAGES:
        Image.fromarray(pixels.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(
            root / "FullDataSet/AllImages" / f"{stem}.bmp"
        )
        objects = ""
        for k in range(3):
            n += 1
            class_id = rng.choice(sorted(CLASSES))
            w, h, ang = rng.uniform(30, 60), rng.uniform(10, 20), rng.uniform(-math.pi / 2, math.pi / 2)
            cx, cy = rng.uniform(30, SIZE[0] - 30), rng.uniform(30, SIZE[1] - 30)
            if stem == "100000004" and k == 2:  # reaches over the right edge
                cx = SIZE[0] - 5.0
            c, s = math.cos(ang), math.sin(ang)
            pts = [(cx + dx * c - dy * s, cy + dx * s + dy * c) for dx in (-w / 2, w / 2) for dy in (-h / 2, h / 2)]
            box = (
                max(0, math.floor(min(p[0] for p in pts))), max(0, math.floor(min(p[1] for p in pts))),
                min(SIZE[0], math.ceil(max(p[0] for p in pts))), min(SIZE[1], math.ceil(max(p[1] for p in pts))),
            )  # fmt: skip
            difficult = int(k == 1 and stem == "100000002")
            objects += _object(n, class_id, box, (cx, cy, w, h, ang), difficult)
            expected.append(
                {
                    "image_id": f"hrsc2016-{stem}-{k:03d}",
                    "category": CLASSES[class_id],
                    "box": box,
                    "source_image": f"FullDataSet/AllImages/{stem}.bmp",
                    "image_size": SIZE,
                    "split": split,
                    "kept": True,
                    "difficult": bool(difficult),
                    "gsd_m": GSD,
                }
            )
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>\n<HRSC_Image>\n'
            f"  <Img_ID>{stem}</Img_ID>\n  <Place_ID>100000001</Place_ID>\n  <Source_ID>100000001</Source_ID>\n"
            f"  <Img_NO>{stem}</Img_NO>\n  <Img_FileName>{stem}</Img_FileName>\n  <Img_FileFmt>bmp</Img_FileFmt>\n"
            f"  <Img_Date>1900-01-01</Img_Date>\n  <Img_CusType>sealand</Img_CusType>\n  <Img_Des />\n"
            f"  <Img_Location>69.040297,33.070036</Img_Location>\n  <Img_SizeWidth>{SIZE[0]}</Img_SizeWidth>\n"
            f"  <Img_SizeHeight>{SIZE[1]}</Img_SizeHeight>\n  <Img_SizeDepth>3</Img_SizeDepth>\n"
            f"  <Img_Resolution>{GSD}</Img_Resolution>\n  <Img_Resolution_Layer>18</Img_Resolution_Layer>\n"
            f"  <Img_Scale>100</Img_Scale>\n  <Img_SclPxlNum />\n  <segmented>0</segmented>\n"
            f"  <Img_Rotation>000d</Img_Rotation>\n  <Annotated>1</Annotated>\n"
            f"  <HRSC_Objects>\n{objects}  </HRSC_Objects>\n</HRSC_Image>\n"
        )
        (root / "FullDataSet/Annotations" / f"{stem}.xml").write_text(xml, encoding="utf-8")
    lists = {s: [i for i, sp in IMAGES if sp == s] for s in ("train", "val", "test")}
    lists["trainval"] = lists["train"] + lists["val"]
    for name, ids in lists.items():
        (root / "ImageSets" / f"{name}.txt").write_text("\n".join(ids) + "\n")
    return expected


def tree_sha256(root: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "HRSC2016"
    generate(out)
    print(f"{out}: sha256 {tree_sha256(out)}")
