"""FAIR1M: fine-grained objects in GF-2/GF-3 images (XML polygons); airplane and ship types only.

Layout (v1.0 and v2.0)::

    FAIR1M/
      train/part1/images/<n>.tif, train/part1/labelXml/<n>.xml   (also part2, ...)
      validation/images/<n>.tif, validation/labelXml/<n>.xml     (v2.0)

Each ``<object>`` has ``<possibleresult><name>`` and ``<points>`` with
``<point>x,y</point>`` corners (the first repeated at the end). Vehicles,
courts, roads and bridges are skipped. The official test labels are withheld:
**validation** becomes our **test**; our val is carved from train. The XML has
no per-image GSD (GF-2 is 0.3-0.8 m), so ``gsd_m`` is empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from web2sky_bench.acquire.importers.base import (
    Importer,
    SourceImage,
    SourceObject,
    find_image,
    parse_xml,
    safe_key,
    text,
)
from web2sky_bench.errors import Web2SkyError

#: FAIR1M airplane and ship classes (mapped through the taxonomy's ``fair1m`` column)
TARGET_CLASSES = (
    "Boeing737", "Boeing747", "Boeing777", "Boeing787", "C919", "A220", "A321", "A330", "A350", "ARJ21",
    "other-airplane", "Passenger Ship", "Motorboat", "Fishing Boat", "Tugboat", "Engineering Ship",
    "Liquid Cargo Ship", "Dry Cargo Ship", "Warship", "other-ship",
)  # fmt: skip

#: FAIR1M classes that are neither aircraft nor ships
NON_TARGET = frozenset(
    {
        "Small Car", "Bus", "Cargo Truck", "Dump Truck", "Van", "Trailer", "Tractor", "Excavator",
        "Truck Tractor", "other-vehicle", "Basketball Court", "Tennis Court", "Football Field",
        "Baseball Field", "Intersection", "Roundabout", "Bridge",
    }
)  # fmt: skip


def split_of(label_dir: Path, src: Path) -> str | None:
    """Our split from the folder names between ``src`` and a ``labelXml`` folder."""
    parts = {p.lower() for p in label_dir.relative_to(src).parts}
    if "train" in parts:
        return "train"
    if parts & {"val", "validation", "test"}:
        return "test"
    return None


def parse_objects(path: Path) -> list[SourceObject]:
    """Every object of one FAIR1M XML: label and polygon corners."""
    root = parse_xml(path)
    objects = []
    for node in root.iter("object"):
        label = text(node.find("possibleresult"), "name")
        points = node.find("points")
        if not label or points is None:
            continue
        corners = []
        for pt in points.iter("point"):
            try:
                x, y = (float(v) for v in (pt.text or "").split(","))
            except ValueError:
                raise Web2SkyError(f"annotation {path}: bad <point> {pt.text!r}; expected 'x,y'") from None
            corners.append((x, y))
        if len(corners) >= 5 and corners[-1] == corners[0]:
            corners = corners[:-1]
        if len(corners) < 3:
            raise Web2SkyError(f"annotation {path}: object {label!r} has {len(corners)} points; expected 4")
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        quad = tuple(corners) if len(corners) == 4 else None
        objects.append(SourceObject(label, (min(xs), min(ys), max(xs), max(ys)), quad))
    return objects


class Fair1mImporter(Importer):
    """FAIR1M XML -> airplane and ship chips."""

    name = "fair1m"
    label_dataset = "fair1m"
    ignored_labels = NON_TARGET
    title = "FAIR1M (airplanes and ships)"

    def scan(self, src: Path) -> Iterator[SourceImage]:
        label_dirs = sorted(p for p in src.rglob("labelXml") if p.is_dir())
        if not label_dirs:
            raise Web2SkyError(f"FAIR1M labels not found: expected {src}/train/part1/labelXml (or any */labelXml)")
        for label_dir in label_dirs:
            split = split_of(label_dir, src)
            prefix = safe_key(label_dir.parent.relative_to(src).as_posix())
            for xml in sorted(label_dir.glob("*.xml")):
                yield SourceImage(
                    key=f"{prefix}_{xml.stem}" if prefix != "image" else xml.stem,
                    path=find_image(label_dir.parent / "images", xml.stem),
                    objects=parse_objects(xml),
                    split=split,
                )
