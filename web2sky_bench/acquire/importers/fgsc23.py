"""FGSC-23: fine-grained ship classification chips in ``train/<id>/`` and ``test/<id>/`` folders.

Layout::

    FGSC-23/
      train/<id>/<name>.jpg      id 0..22 (0 = non-ship, skipped)
      test/<id>/<name>.jpg

Every image is already a chip: it is re-encoded as PNG (no padding, rotation
or cropping), its ``bbox`` is the whole image and ``source_image`` its path.
``--min-size`` applies to the chip's shorter side. Val is carved from train.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from web2sky_bench.acquire.importers.base import IMAGE_SUFFIXES, Importer, SourceImage, SourceObject
from web2sky_bench.errors import Web2SkyError

NON_SHIP = "0"
#: FGSC-23 class folder ids and their names (0 is skipped)
CLASS_NAMES = {
    "0": "non-ship", "1": "air carrier", "2": "destroyer", "3": "landing craft", "4": "frigate",
    "5": "amphibious transport dock", "6": "cruiser", "7": "Tarawa-class amphibious assault ship",
    "8": "amphibious assault ship", "9": "command ship", "10": "submarine", "11": "medical ship",
    "12": "combat boat", "13": "auxiliary ship", "14": "container ship", "15": "car carrier", "16": "hovercraft",
    "17": "bulk carrier", "18": "oil tanker", "19": "fishing boat", "20": "passenger ship",
    "21": "liquefied gas ship", "22": "barge",
}  # fmt: skip


class Fgsc23Importer(Importer):
    """FGSC-23 class folders -> ship chips."""

    name = "fgsc23"
    label_dataset = "fgsc23"
    ignored_labels = frozenset({NON_SHIP})
    title = "FGSC-23 fine-grained ship classification"

    def scan(self, src: Path) -> Iterator[SourceImage]:
        found = False
        for split in ("train", "test"):
            folder = src / split
            if not folder.is_dir():
                continue
            found = True
            for class_dir in sorted((d for d in folder.iterdir() if d.is_dir()), key=lambda d: d.name):
                for path in sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                    yield SourceImage(
                        key=f"{split}_{class_dir.name}_{path.stem}",
                        path=path,
                        objects=[SourceObject(class_dir.name, (0.0, 0.0, float("inf"), float("inf")))],
                        split=split,
                        whole_image=True,
                    )
        if not found:
            raise Web2SkyError(
                f"FGSC-23 folders not found: expected {src}/train/<class id>/ and {src}/test/<class id>/"
            )
