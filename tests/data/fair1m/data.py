#!/usr/bin/env python3
"""Generate a tiny fake FAIR1M (train/part1, validation; images/ + labelXml/, random pixels).

``python data.py [OUT]`` writes the dataset (default: ./FAIR1M next to this
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

#: FAIR1M class -> the category it must map to (None: not aircraft/ship, skipped)
CLASSES = {
    "Boeing737": "boeing-737", "A350": "airbus-a350", "ARJ21": "comac-arj21", "other-airplane": "aircraft-other",
    "Liquid Cargo Ship": "oil-tanker", "Passenger Ship": "cruise-ship", "Warship": "warship-other",
    "Small Car": None, "Tennis Court": None,
}  # fmt: skip
#: (folder, image stem, our split); the same stem in two folders must not collide
IMAGES = (
    ("train/part1", "0", "train"),
    ("train/part1", "1", "train"),
    ("train/part2", "0", "train"),
    ("validation", "0", "test"),
)
SIZE = (130, 130)


def generate(root: str | Path, seed: int = 0) -> list[dict]:
    """Write the fake dataset under ``root``; return one dict per object (expected outcome)."""
    root = Path(root)
    rng = random.Random(seed)
    pixels = np.random.default_rng(seed)
    names = sorted(CLASSES)
    expected = []
    for folder, stem, split in IMAGES:
        for d in ("images", "labelXml"):
            (root / folder / d).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(
            root / folder / "images" / f"{stem}.tif"
        )
        objects = ""
        for k in range(3):
            label = rng.choice(names)
            w, h, ang = rng.uniform(20, 44), rng.uniform(12, 24), rng.uniform(-math.pi / 2, math.pi / 2)
            cx, cy = rng.uniform(28, SIZE[0] - 28), rng.uniform(28, SIZE[1] - 28)
            c, s = math.cos(ang), math.sin(ang)
            quad = [
                (round(cx + dx * c - dy * s, 6), round(cy + dx * s + dy * c, 6))
                for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
            ]  # noqa: E501
            points = "".join(f"\t\t\t\t<point>{x:.6f},{y:.6f}</point>\n" for x, y in quad + quad[:1])
            objects += (
                "\t\t<object>\n\t\t\t<coordinate>pixel</coordinate>\n\t\t\t<type>rectangle</type>\n"
                "\t\t\t<description>None</description>\n\t\t\t<possibleresult>\n"
                f"\t\t\t\t<name>{label}</name>\n\t\t\t\t<probability>1</probability>\n\t\t\t</possibleresult>\n"
                f"\t\t\t<points>\n{points}\t\t\t</points>\n\t\t</object>\n"
            )
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            key = f"{folder.replace('/', '_')}_{stem}"
            expected.append(
                {
                    "image_id": f"fair1m-{key}-{k:03d}",
                    "category": CLASSES[label],
                    "box": (min(xs), min(ys), max(xs), max(ys)),
                    "source_image": f"{folder}/images/{stem}.tif",
                    "image_size": SIZE,
                    "split": split,
                    "kept": CLASSES[label] is not None,
                }
            )
        (root / folder / "labelXml" / f"{stem}.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<annotation>\n\t<source>\n'
            f"\t\t<filename>{stem}.tif</filename>\n\t\t<origin>GF2/GF3</origin>\n\t</source>\n"
            "\t<research>\n\t\t<version>1.0</version>\n\t\t<provider>Company/School of team</provider>\n"
            "\t\t<author>team name</author>\n\t\t<pluginname>FAIR1M</pluginname>\n"
            "\t\t<pluginclass>object detection</pluginclass>\n\t\t<time>2021-07-21</time>\n\t</research>\n"
            f"\t<size>\n\t\t<width>{SIZE[0]}</width>\n\t\t<height>{SIZE[1]}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
            f"\t<objects>\n{objects}\t</objects>\n</annotation>\n"
        )
    return expected


def tree_sha256(root: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "FAIR1M"
    generate(out)
    print(f"{out}: sha256 {tree_sha256(out)}")
