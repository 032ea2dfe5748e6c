#!/usr/bin/env python3
"""Generate a tiny fake FGSC-23 (train/<id>/ and test/<id>/ chip folders, random pixels).

``python data.py [OUT]`` writes the dataset (default: ./FGSC-23 next to this
file) and prints its sha256; tests import :func:`generate`.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from PIL import Image

#: class folder -> the category it must map to (None: non-ship, skipped)
CLASSES = {"0": None, "1": "aircraft-carrier-other", "10": "submarine", "14": "container-ship", "21": "lng-carrier"}
MIN_SIZE = 8


def generate(root: str | Path, seed: int = 0) -> list[dict]:
    """Write the fake dataset under ``root``; return one dict per image (expected outcome)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    expected = []
    for split in ("train", "test"):
        for cls, category in CLASSES.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for n in range(2):
                w, h = int(rng.integers(30, 90)), int(rng.integers(20, 60))
                if split == "test" and cls == "10" and n == 1:
                    h = 5  # below the minimum size
                name = f"{cls}_{split}_{n:04d}"
                Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                    root / split / cls / f"{name}.jpg"
                )
                expected.append(
                    {
                        "image_id": f"fgsc23-{split}_{cls}_{name}-000",
                        "category": category,
                        "box": (0, 0, w, h),
                        "source_image": f"{split}/{cls}/{name}.jpg",
                        "image_size": (w, h),
                        "split": split,
                        "kept": category is not None and min(w, h) >= MIN_SIZE,
                    }
                )
    return expected


def tree_sha256(root: str | Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "FGSC-23"
    generate(out)
    print(f"{out}: sha256 {tree_sha256(out)}")
