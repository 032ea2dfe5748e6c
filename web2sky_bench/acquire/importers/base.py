"""The one shape every importer has: find annotations -> parse objects -> crop chips -> rows.

A format module subclasses :class:`Importer` and implements :meth:`Importer.scan`
(yield one :class:`SourceImage` per annotated image, its objects with their
dataset labels and the official split). The base class maps labels through the
taxonomy, crops chips (context padding, optional rotation normalisation of
oriented boxes, minimum size), writes them atomically as PNG and returns
manifest rows. :func:`web2sky_bench.acquire.importers.registry.import_dataset`
writes the dataset folder.

Splits: official train/test (and val) lists are followed. When a dataset has
no val list, ``val_fraction`` of its train *source images* become val, chosen
by a seeded hash of the image key, so every chip of a parent image lands in one
split and the choice does not depend on file order. Images in no official list
are ``unassigned``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.acquire.importers.geometry import (
    Box,
    OrientedRect,
    Quad,
    clip_box,
    crop_axis_aligned,
    crop_rotated,
    padded_box,
    quad_bounds,
)
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import atomic_path
from web2sky_bench.manifest import file_sha256

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class ChipOptions:
    """How chips are cut: context padding (fraction of the box per side), rotation, minimum size (px)."""

    padding: float = 0.1
    rotate: bool = False
    min_size: int = 8
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.padding <= 5:
            raise Web2SkyError(f"--padding must be between 0 and 5 (a fraction of the box size), got {self.padding}")
        if self.min_size < 1:
            raise Web2SkyError(f"--min-size must be at least 1 pixel, got {self.min_size}")
        if not 0 <= self.val_fraction < 1:
            raise Web2SkyError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")


@dataclass
class SourceObject:
    """One annotated object: its dataset label, axis-aligned box and optional oriented corners."""

    label: str
    box: Box
    quad: Quad | None = None
    difficult: bool = False


@dataclass
class SourceImage:
    """One annotated source image with its objects and official split (None: no list names it)."""

    key: str
    path: Path
    objects: list[SourceObject] = field(default_factory=list)
    split: str | None = None
    has_val_list: bool = False
    gsd_m: float | None = None
    whole_image: bool = False  # classification datasets: the image is the chip


class Importer:
    """Base class: subclasses set ``name``/``label_dataset`` and implement :meth:`scan`."""

    #: format name on the command line and ``source`` in the manifest
    name: str = ""
    #: column of ``taxonomy.csv`` holding this dataset's labels
    label_dataset: str = ""
    #: dataset labels that are not aircraft or ships (skipped, counted)
    ignored_labels: frozenset[str] = frozenset()
    title: str = ""

    def __init__(self, taxonomy: taxonomy_mod.Taxonomy | None = None) -> None:
        self.taxonomy = taxonomy or taxonomy_mod.load()

    @functools.cached_property
    def _ignored(self) -> frozenset[str]:
        return frozenset(taxonomy_mod.normalize_label(x) for x in self.ignored_labels)

    def scan(self, src: Path) -> Iterator[SourceImage]:
        """Yield every annotated source image under ``src``."""
        raise NotImplementedError

    def category(self, label: str) -> str | None:
        """The taxonomy category of a dataset label; None for ignored (non-target) labels."""
        if taxonomy_mod.normalize_label(label) in self._ignored:
            return None
        return self.taxonomy.from_source_label(self.label_dataset, label)

    # -- the shared pipeline ------------------------------------------------------------

    def rows_for(self, src: Path, out: Path, item: SourceImage, options: ChipOptions, skipped: Counter) -> list[dict]:
        """Crop every object of one source image into ``out/images`` and return its manifest rows.

        Objects that cannot become chips are counted in ``skipped`` by reason.
        """
        if not item.path.is_file():
            skipped["missing_image"] += 1
            return []
        split = assign_split(item, options)
        wanted = []
        for k, obj in enumerate(item.objects):
            category = self.category(obj.label)
            if category is None:
                skipped[f"ignored_label:{obj.label}"] += 1
                continue
            wanted.append((k, obj, category))
        if not wanted:
            return []
        try:
            with Image.open(item.path) as raw:
                image = raw.convert("RGB")
        except (OSError, Image.DecompressionBombError) as exc:
            raise Web2SkyError(f"cannot read source image {item.path}: {exc}") from exc
        width, height = image.size
        key = safe_key(item.key)
        rows = []
        for k, obj, category in wanted:
            inside = clip_box(obj.box if obj.quad is None else quad_bounds(obj.quad), width, height)
            if inside[2] - inside[0] <= 0 or inside[3] - inside[1] <= 0:
                skipped["outside_image"] += 1
                continue
            if item.whole_image:
                chip, region = image, (0.0, 0.0, float(width), float(height))
                size = min(width, height)
            elif options.rotate and obj.quad is not None:
                rect = OrientedRect.from_quad(obj.quad)
                size = rect.h
                chip, region = crop_rotated(image, rect, options.padding)
            else:
                size = min(inside[2] - inside[0], inside[3] - inside[1])
                chip, region = crop_axis_aligned(image, padded_box(inside, options.padding))
            if size < options.min_size:
                skipped["too_small"] += 1
                continue
            image_id = f"{self.name}-{key}-{k:03d}"
            rel = f"images/{self.name}/{image_id}.png"
            dest = out / rel
            with atomic_path(dest) as tmp:
                chip.save(tmp, format="PNG")
            sup = self.taxonomy.get(category).super_category
            rows.append(
                {
                    "image_id": image_id,
                    "view": "aerial",
                    "super_category": sup,
                    "category": category,
                    "split": split,
                    "path": rel,
                    "sha256": file_sha256(dest),
                    "width": chip.size[0],
                    "height": chip.size[1],
                    "source": self.name,
                    "url": None,
                    "license": None,
                    "attribution": None,
                    "source_image": item.path.relative_to(src).as_posix(),
                    "bbox": [float(v) for v in region],
                    "gsd_m": item.gsd_m,
                    "issues": ["difficult"] if obj.difficult else [],
                }
            )
        return rows


def assign_split(item: SourceImage, options: ChipOptions) -> str:
    """The split of a source image: official list, else ``unassigned``; val carved from train by hash."""
    if item.split is None:
        return "unassigned"
    if item.split == "train" and not item.has_val_list and options.val_fraction > 0:
        digest = hashlib.sha256(f"{options.seed}:{item.key}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 < options.val_fraction:
            return "val"
    return item.split


def safe_key(key: str) -> str:
    """A key usable in ids and file names: runs of other characters become ``_``."""
    return re.sub(r"[^0-9A-Za-z.-]+", "_", key).strip("_") or "image"


def read_list(path: Path) -> set[str]:
    """Ids in an ImageSets-style list file (one per line, blanks ignored); empty if absent."""
    if not path.is_file():
        return set()
    return {line.strip().split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def parse_xml(path: Path) -> ET.Element:
    """Parse an annotation XML file or raise an actionable error."""
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise Web2SkyError(f"annotation {path} is not valid XML: {exc}") from exc


def text(node: ET.Element | None, tag: str, default: str | None = None) -> str | None:
    """The stripped text of ``node/tag`` or ``default``."""
    if node is None:
        return default
    found = node.find(tag)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def number(node: ET.Element | None, tag: str, path: Path) -> float:
    """A required numeric child; a missing or non-numeric one names the file."""
    value = text(node, tag)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Web2SkyError(f"annotation {path}: <{tag}> is missing or not a number ({value!r})") from None


def optional_float(value: str | None) -> float | None:
    """A float from text, None for empty/'null'/non-numeric."""
    try:
        out = float(value) if value not in (None, "", "null", "None") else None
    except ValueError:
        return None
    return out if out is None or out > 0 else None


def find_image(folder: Path, stem: str) -> Path:
    """The image file ``stem`` with any known suffix in ``folder`` (first match; default ``.jpg``)."""
    for suffix in IMAGE_SUFFIXES:
        for cand in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if cand.is_file():
                return cand
    return folder / f"{stem}.jpg"


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else an error saying which layout was expected."""
    if not path.is_dir():
        raise Web2SkyError(f"{what} not found: expected folder {path}")
    return path
