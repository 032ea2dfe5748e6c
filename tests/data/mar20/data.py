#!/usr/bin/env python3
"""Generate a tiny fake MAR20 (real layout and VOC XML structure, random pixels).

``python data.py [OUT]`` writes the dataset (default: ./MAR20 next to this
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

#: labels used and the category each must map to
LABELS = {"A1": "su-35", "A5": "f-16", "A14": "kc-135", "A16": "fa-18", "A20": "su-24"}
IMAGES = (("1", "train"), ("2", "train"), ("3", "train"), ("4", "test"), ("5", "test"))
SIZE = (120, 100)
MIN_SIZE = 8


def _quad(cx, cy, w, h, ang):
    c, s = math.cos(ang), math.sin(ang)
    return [
        (cx + dx * c - dy * s, cy + dx * s + dy * c)
        for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    ]


def _object(tag: str, label: str, body: str) -> str:
    return (
        f"\t<object>\n\t\t<name>{label}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
        f"\t\t<difficult>0</difficult>\n\t\t<{tag}>\n{body}\t\t</{tag}>\n\t</object>\n"
    )


def _annotation(stem: str, objects: str) -> str:
    w, h = SIZE
    return (
        f"<annotation>\n\t<filename>{stem}.jpg</filename>\n\t<source>\n\t\t<database>MAR20</database>\n\t</source>\n"
        f"\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
        f"\t<segmented>0</segmented>\n{objects}</annotation>\n"
    )


def generate(root: str | Path, seed: int = 0) -> list[dict]:
    """Write the fake dataset under ``root``; return one dict per object (expected outcome)."""
    root = Path(root)
    rng = random.Random(seed)
    pixels = np.random.default_rng(seed)
    for d in (
        "JPEGImages",
        "Annotations/Horizontal Bounding Boxes",
        "Annotations/Oriented Bounding Boxes",
        "ImageSets/Main",
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
    expected = []
    for stem, split in IMAGES:
        Image.fromarray(pixels.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{stem}.jpg"
        )
        hbb, obb = "", ""
        n = 3 if stem != "5" else 2
        for k in range(n):
            label = rng.choice(sorted(LABELS))
            if stem == "2" and k == 2:  # a tiny object, below the minimum size
                w, h = 6.0, 4.0
            else:
                w, h = rng.uniform(20, 40), rng.uniform(12, 24)
            # the first object of image 3 sticks out of the image: the chip must be clipped
            cx = 2.0 if (stem == "3" and k == 0) else rng.uniform(25, SIZE[0] - 25)
            cy = rng.uniform(25, SIZE[1] - 25)
            quad = _quad(cx, cy, w, h, rng.uniform(-math.pi / 2, math.pi / 2))
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            box = (
                max(0, round(min(xs))),
                max(0, round(min(ys))),
                min(SIZE[0], round(max(xs))),
                min(SIZE[1], round(max(ys))),
            )
            hbb += _object(
                "bndbox",
                label,
                "".join(f"\t\t\t<{t}>{v}</{t}>\n" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box)),
            )
            corners = ("left_top", "right_top", "right_bottom", "left_bottom")
            body = "".join(
                f"\t\t\t<x_{c}>{p[0]:.1f}</x_{c}>\n\t\t\t<y_{c}>{p[1]:.1f}</y_{c}>\n" for c, p in zip(corners, quad)
            )
            obb += _object("robndbox", label, body + "\t\t\t<angle>0</angle>\n")
            expected.append(
                {
                    "image_id": f"mar20-{stem}-{k:03d}",
                    "category": LABELS[label],
                    "box": box,
                    "source_image": f"JPEGImages/{stem}.jpg",
                    "image_size": SIZE,
                    "split": split,
                    "kept": min(box[2] - box[0], box[3] - box[1]) >= MIN_SIZE,
                }
            )
        (root / "Annotations/Horizontal Bounding Boxes" / f"{stem}.xml").write_text(_annotation(stem, hbb))
        (root / "Annotations/Oriented Bounding Boxes" / f"{stem}.xml").write_text(_annotation(stem, obb))
    for split in ("train", "test"):
        ids = [s for s, sp in IMAGES if sp == split]
        (root / "ImageSets/Main" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return expected


def tree_sha256(root: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "MAR20"
    generate(out)
    print(f"{out}: sha256 {tree_sha256(out)}")
