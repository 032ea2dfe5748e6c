"""DOTA v1 txt: planes and ships only, at super-category level.

Layout::

    DOTA/
      train/images/P0000.png
      train/labelTxt/P0000.txt     ('imagesource:...', 'gsd:...', then
      val/images, val/labelTxt      'x1 y1 x2 y2 x3 y3 x4 y4 category difficult' per object)

DOTA labels no aircraft or ship types, so ``plane`` becomes ``aircraft-other``
and ``ship`` becomes ``ship-other``; every other class (helicopter, vehicles,
courts, ...) is skipped. DOTA's test labels are withheld: its **val** becomes
our **test**, our val is carved from train. ``gsd:`` gives ``gsd_m``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from web2sky_bench.acquire.importers.base import Importer, SourceImage, SourceObject, find_image, optional_float
from web2sky_bench.errors import Web2SkyError

CATEGORIES = {"plane": "aircraft-other", "ship": "ship-other"}
SPLIT_MAP = {"train": "train", "val": "test"}
LABEL_DIRS = ("labelTxt", "labelTxt-v1.0", "labelTxt-v1.5")


def parse_label_file(path: Path) -> tuple[list[SourceObject], float | None]:
    """Objects and GSD of one DOTA label file."""
    objects: list[SourceObject] = []
    gsd = None
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("gsd:"):
            gsd = optional_float(line[4:].strip())
            continue
        if line.startswith("imagesource:"):
            continue
        parts = line.split()
        if len(parts) < 9:
            raise Web2SkyError(f"{path}:{n}: expected 'x1 y1 ... x4 y4 category difficult', got {line!r}")
        try:
            coords = [float(v) for v in parts[:8]]
        except ValueError:
            raise Web2SkyError(f"{path}:{n}: non-numeric corner in {line!r}") from None
        quad = tuple((coords[i], coords[i + 1]) for i in range(0, 8, 2))
        xs, ys = coords[0::2], coords[1::2]
        difficult = len(parts) > 9 and parts[9] == "1"
        objects.append(SourceObject(parts[8], (min(xs), min(ys), max(xs), max(ys)), quad, difficult))
    return objects, gsd


class DotaImporter(Importer):
    """DOTA v1 labelTxt -> plane/ship chips (super-category level)."""

    name = "dota"
    label_dataset = "dota"
    title = "DOTA v1 (plane, ship)"

    def category(self, label: str) -> str | None:
        found = CATEGORIES.get(label)
        return found if found is None else self.taxonomy.get(found).id

    def scan(self, src: Path) -> Iterator[SourceImage]:
        found = False
        for official, ours in SPLIT_MAP.items():
            folder = src / official
            label_dir = next((folder / d for d in LABEL_DIRS if (folder / d).is_dir()), None)
            if label_dir is None:
                continue
            found = True
            for txt in sorted(label_dir.glob("*.txt")):
                objects, gsd = parse_label_file(txt)
                yield SourceImage(
                    key=txt.stem, path=find_image(folder / "images", txt.stem), objects=objects, split=ours, gsd_m=gsd
                )
        if not found:
            raise Web2SkyError(f"DOTA labels not found: expected {src}/train/labelTxt or {src}/val/labelTxt")
