"""Format registry and :func:`import_dataset`, the library call behind ``web2sky-bench import``."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.acquire.importers.base import ChipOptions, Importer
from web2sky_bench.acquire.importers.dota import DotaImporter
from web2sky_bench.acquire.importers.fair1m import Fair1mImporter
from web2sky_bench.acquire.importers.fgsc23 import Fgsc23Importer
from web2sky_bench.acquire.importers.hrsc2016 import Hrsc2016Importer
from web2sky_bench.acquire.importers.mar20 import Mar20Importer
from web2sky_bench.acquire.importers.shiprsimagenet import ShipRSImageNetCocoImporter, ShipRSImageNetImporter
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.manifest import CARD_FILE, MANIFEST_FILE, new_rows, write_card, write_manifest

FORMATS: dict[str, type[Importer]] = {
    cls.name: cls
    for cls in (
        Mar20Importer,
        Hrsc2016Importer,
        ShipRSImageNetImporter,
        ShipRSImageNetCocoImporter,
        DotaImporter,
        Fair1mImporter,
        Fgsc23Importer,
    )
}
DATASET_VERSION = "1"


def get_importer(fmt: str, taxonomy: taxonomy_mod.Taxonomy | None = None) -> Importer:
    """An importer instance for a format name (case-insensitive)."""
    cls = FORMATS.get(fmt.lower())
    if cls is None:
        raise Web2SkyError(f"unknown import format {fmt!r}; known: {', '.join(FORMATS)}")
    return cls(taxonomy)


def import_dataset(
    fmt: str,
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    options: ChipOptions | None = None,
    quiet: bool = False,
    force: bool = False,
    name: str | None = None,
) -> dict:
    """Import a public dataset at ``src`` into the dataset folder ``out``; return the card.

    The folder gets ``images/<format>/*.png`` chips, a validated
    ``manifest.parquet`` and ``dataset.json`` (with the chip options and the
    count of skipped objects by reason). An existing import in ``out`` is only
    replaced with ``force``.
    """
    importer = get_importer(fmt)
    options = options or ChipOptions()
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.is_dir():
        raise Web2SkyError(f"source folder not found: {src}")
    chip_dir = out / "images" / importer.name
    if (out / MANIFEST_FILE).exists() or chip_dir.exists():
        if not force:
            raise Web2SkyError(f"{out} already holds an import; pass --force to replace it")
        shutil.rmtree(chip_dir, ignore_errors=True)
        for stale in (MANIFEST_FILE, CARD_FILE):
            (out / stale).unlink(missing_ok=True)
    skipped: Counter = Counter()
    rows: list[dict] = []
    sources = 0
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # DOTA and FAIR1M scenes exceed PIL's bomb guard; these are trusted files
    try:
        for item in tqdm(importer.scan(src), desc=f"import {importer.name}", unit="img", disable=quiet):
            sources += 1
            rows.extend(importer.rows_for(src, out, item, options, skipped))
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if not rows:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())) or "no annotated images found"
        raise Web2SkyError(f"no chips imported from {src} as {importer.name}: {reasons}")
    write_manifest(new_rows(rows), out)
    return write_card(
        out,
        name or out.name,
        DATASET_VERSION,
        importer={
            "format": importer.name,
            "title": importer.title,
            "source_dir": str(src),
            "source_images": sources,
            "padding": options.padding,
            "rotate": options.rotate,
            "min_size": options.min_size,
            "val_fraction": options.val_fraction,
            "seed": options.seed,
        },
        skipped=dict(sorted(skipped.items())),
    )
