#!/usr/bin/env python3
"""Generate a tiny fake DOTA v1 (train/ and val/ with images/ and labelTxt/, random pixels).

``python data.py [OUT]`` writes the dataset (default: ./DOTA next to this
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

#: DOTA class -> the category it must map to (None: skipped)
CLASSES = {"plane": "aircraft-other", "ship": "ship-other", "helicopter": None, "small-vehicle": None, "harbor": None}
IMAGES = (("P0000", "train"), ("P0001", "train"), ("P0002", "train"), ("P0003", "val"))
OUR_SPLIT = {"train": "train", "val": "test"}
SIZE = (150, 120)
GSD = 0.146343590398


def generate(root: str | Path, seed: int = 0) -> list[dict]:
    """Write the fake dataset under ``root``; return one dict per object (expected outcome)."""
    root = Path(root)
    rng = random.Random(seed)
    pixels = np.random.default_rng(seed)
    names = sorted(CLASSES)
    expected = []
    for n, (stem, split) in enumerate(IMAGES):
        for d in ("images", "labelTxt"):
            (root / split / d).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(
            root / split / "images" / f"{stem}.png"
        )
        gsd = "null" if n == 2 else repr(GSD)
        lines = ["imagesource:GoogleEarth", f"gsd:{gsd}"]
        for k in range(4):
            label = ("plane", "ship")[k % 2] if k < 2 else rng.choice(names)
            w, h, ang = rng.uniform(16, 40), rng.uniform(10, 20), rng.uniform(-math.pi / 2, math.pi / 2)
            cx, cy = rng.uniform(25, SIZE[0] - 25), rng.uniform(25, SIZE[1] - 25)
            c, s = math.cos(ang), math.sin(ang)
            quad = [
                (cx + dx * c - dy * s, cy + dx * s + dy * c)
                for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
            ]  # noqa: E501
            pts = [(round(x, 1), round(y, 1)) for x, y in quad]
            difficult = int(k == 1)
            lines.append(" ".join(f"{x} {y}" for x, y in pts) + f" {label} {difficult}")
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            expected.append(
                {
                    "image_id": f"dota-{stem}-{k:03d}",
                    "category": CLASSES[label],
                    "box": (min(xs), min(ys), max(xs), max(ys)),
                    "source_image": f"{split}/images/{stem}.png",
                    "image_size": SIZE,
                    "split": OUR_SPLIT[split],
                    "kept": CLASSES[label] is not None,
                    "difficult": bool(difficult),
                    "gsd_m": None if gsd == "null" else GSD,
                }
            )
        (root / split / "labelTxt" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return expected


def tree_sha256(root: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "DOTA"
    generate(out)
    print(f"{out}: sha256 {tree_sha256(out)}")
