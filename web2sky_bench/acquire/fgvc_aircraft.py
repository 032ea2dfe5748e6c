"""Import FGVC-Aircraft 2013b as a web-view dataset of the taxonomy's aircraft types.

FGVC-Aircraft photos are ground/air-to-air views of 100 aircraft variants. The
variants listed in the taxonomy's ``fgvc_aircraft`` column (C-130, F-16A/B,
F/A-18, the 737/747/777 and Airbus families, Il-76, ...) become web images of
their category; the others are skipped and counted in the card. Splits follow
``images_variant_{train,val,test}.txt``. Images are kept byte for byte (the
20-pixel copyright banner at the bottom is not cropped).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.acquire.importers.image_folder import place_file
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import replace_dir
from web2sky_bench.manifest import file_sha256, new_rows, write_card, write_manifest

SPLITS = ("train", "val", "test")
LICENSE = "FGVC-Aircraft: non-commercial research use only (images (c) their photographers, airliners.net)"


def find_data_dir(src: str | os.PathLike[str]) -> Path:
    """The ``data`` folder holding ``images/`` and ``images_variant_*.txt`` under ``src``."""
    src = Path(src)
    for lst in sorted(src.rglob("images_variant_train.txt")):
        if (lst.parent / "images").is_dir():
            return lst.parent
    raise Web2SkyError(f"{src} is not FGVC-Aircraft 2013b: no data/images_variant_train.txt next to data/images/")


def read_variant_list(path: Path) -> list[tuple[str, str]]:
    """``(image id, variant)`` pairs from one ``images_variant_<split>.txt``."""
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        image_id, _, variant = line.strip().partition(" ")
        if not variant:
            raise Web2SkyError(f"{path} line {n}: expected '<image id> <variant>', got {line!r}")
        pairs.append((image_id, variant.strip()))
    return pairs


def import_fgvc_aircraft(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str = "fgvc-aircraft",
    link: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Build the dataset folder ``out_dir`` from an extracted FGVC-Aircraft release; returns it."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise Web2SkyError(f"{out_dir} already exists; pass --force to rebuild it")
    data = find_data_dir(src)
    tax = taxonomy_mod.load()
    labels = tax.source_labels("fgvc_aircraft")
    items = []
    for split in SPLITS:
        lst = data / f"images_variant_{split}.txt"
        if lst.is_file():
            items += [(split, image_id, variant) for image_id, variant in read_variant_list(lst)]
    skipped: Counter = Counter()
    rows = []
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".importing", dir=out_dir.parent))
    try:
        for split, image_id, variant in tqdm(items, desc=f"import {name}", unit="img", disable=quiet):
            category = labels.get(variant)
            if category is None:
                skipped["variant-not-in-taxonomy"] += 1
                continue
            path = data / "images" / f"{image_id}.jpg"
            try:
                with Image.open(path) as im:
                    width, height = im.size
            except (FileNotFoundError, UnidentifiedImageError, OSError):
                skipped["missing-or-unreadable-image"] += 1
                continue
            rel = f"images/web/{split}/{category}/{image_id}.jpg"
            place_file(path, tmp / rel, link)
            rows.append({
                "image_id": f"{name}-{image_id}", "view": "web",
                "super_category": tax.get(category).super_category, "category": category, "split": split,
                "path": rel, "sha256": file_sha256(tmp / rel), "width": width, "height": height,
                "source": name, "license": LICENSE, "attribution": f"FGVC-Aircraft {variant}",
            })
        if not rows:
            raise Web2SkyError(f"no FGVC-Aircraft image under {data} maps to a taxonomy category: {dict(skipped)}")
        write_manifest(new_rows(rows), tmp)
        write_card(tmp, name, "2013b", importer="fgvc-aircraft", skipped=dict(sorted(skipped.items())))
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
