"""Write the web2sky-synth dataset folder (manifest, images, card, taxonomy, concepts, captions).

Every image has its own random generator seeded by (seed, namespace, category,
view, index), so the output does not depend on the number of worker processes
and the same seed gives byte-identical files. The ``bench`` namespace makes the
benchmark; ``vlm`` makes synth-clip's training images, which therefore never
coincide with any benchmark image whatever the seeds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing as mp
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from web2sky_bench import manifest, taxonomy
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import atomic_open, atomic_path, replace_dir, write_json
from web2sky_bench.paths import dataset_dir
from web2sky_bench.synth.categories import CATEGORIES, caption, concepts
from web2sky_bench.synth.render import CHIP_SIZE, WEB_SIZE, render

GENERATOR_VERSION = "1.1"
NAMESPACES = {"bench": 0, "vlm": 1}
VIEW_CODES = {"web": 0, "aerial": 1}
LICENSE = "CC0-1.0"
ATTRIBUTION = "web2sky-bench procedural generator"


@dataclass(frozen=True)
class Size:
    """Images per category and view, per split: (train, val, test)."""

    web: tuple[int, int, int]
    aerial: tuple[int, int, int]

    def per_category(self) -> int:
        """Images of one category over both views."""
        return sum(self.web) + sum(self.aerial)


SIZES: dict[str, Size] = {
    "tiny": Size(web=(2, 1, 1), aerial=(2, 1, 1)),  # for tests
    "mini": Size(web=(20, 6, 6), aerial=(20, 10, 10)),  # k = 16 few-shot + val + test
    "standard": Size(web=(300, 50, 50), aerial=(230, 100, 100)),  # 19,920 images
}


def image_rng(seed: int, namespace: str, category_index: int, view: str, index: int) -> np.random.Generator:
    """The random generator of one image."""
    return np.random.default_rng([int(seed), NAMESPACES[namespace], category_index, VIEW_CODES[view], index])


def render_item(seed: int, namespace: str, category_index: int, view: str, index: int):
    """Render one image: (PIL image, caption, gsd_m)."""
    spec = CATEGORIES[category_index]
    rng = image_rng(seed, namespace, category_index, view, index)
    out = render(spec, view, rng)
    text = caption(spec, view, rng, livery=out.livery, context=out.context)
    return out.image, text, out.gsd_m


def _encode(image, view: str) -> bytes:
    buf = io.BytesIO()
    if view == "web":
        image.save(buf, format="JPEG", quality=92)
    else:
        image.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _task(args) -> list[dict]:
    """Render and write the images of one (category, view) block; return their rows."""
    root, seed, cat_index, view, counts = args
    spec = CATEGORIES[cat_index]
    rows = []
    ext = "jpg" if view == "web" else "png"
    splits = ["train"] * counts[0] + ["val"] * counts[1] + ["test"] * counts[2]
    for index, split in enumerate(splits):
        image, text, gsd = render_item(seed, "bench", cat_index, view, index)
        data = _encode(image, view)
        image_id = f"{view}-{spec.id}-{index:05d}"
        rel = f"images/{view}/{spec.id}/{image_id}.{ext}"
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append({
            "image_id": image_id, "view": view, "super_category": spec.super_category, "category": spec.id,
            "split": split, "path": rel, "sha256": hashlib.sha256(data).hexdigest(),
            "width": image.width, "height": image.height, "source": "synth", "url": None,
            "license": LICENSE, "attribution": ATTRIBUTION, "gsd_m": gsd, "caption": text,
        })
    return rows


def write_taxonomy(path: Path) -> None:
    """Write the synthetic categories as a taxonomy CSV."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([*taxonomy.BASE_COLUMNS, *taxonomy.SOURCE_COLUMNS])
        for spec in CATEGORIES:
            writer.writerow([spec.id, spec.super_category, spec.family, spec.display_name, "",
                             *[""] * len(taxonomy.SOURCE_COLUMNS)])


def _matches(folder: Path, size: str, seed: int) -> bool:
    if not ((folder / manifest.MANIFEST_FILE).is_file() and (folder / manifest.CARD_FILE).is_file()):
        return False
    try:
        card = manifest.read_card(folder)
    except Web2SkyError:
        return False
    return (card.get("size"), card.get("seed"), card.get("generator_version")) == (size, seed, GENERATOR_VERSION)


def generate_dataset(out_dir: str | os.PathLike[str], size: str = "mini", seed: int = 0, quiet: bool = False,
                     force: bool = False, workers: int | None = None) -> Path:
    """Generate web2sky-synth into ``out_dir`` and return it.

    An existing folder generated with the same size, seed and generator version
    is returned as is; any other existing folder needs ``force=True`` and is
    replaced only once the new one is complete (built in a temp folder, then
    renamed).
    """
    if size not in SIZES:
        raise Web2SkyError(f"unknown web2sky-synth size {size!r}; choose one of {', '.join(SIZES)}")
    out = Path(out_dir).expanduser()
    if out.exists() and not force:
        if _matches(out, size, seed):
            return out
        if any(out.iterdir()):
            raise Web2SkyError(f"{out} exists and is not web2sky-synth size={size} seed={seed}; "
                               "pass force=True (CLI: --force) to replace it")
    counts = SIZES[size]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tasks = [(str(tmp), seed, ci, view, getattr(counts, view))
                 for ci in range(len(CATEGORIES)) for view in ("web", "aerial")]
        n_workers = workers if workers is not None else min(len(tasks), os.cpu_count() or 1, 4)
        rows: list[dict] = []
        with tqdm(total=len(tasks), desc=f"web2sky-synth-{size}", unit="block", disable=quiet) as bar:
            if n_workers > 1:
                with mp.get_context("fork").Pool(n_workers) as pool:
                    for block in pool.imap(_task, tasks):
                        rows += block
                        bar.update()
            else:
                for task in tasks:
                    rows += _task(task)
                    bar.update()
        captions = pd.DataFrame({"image_id": [r["image_id"] for r in rows], "caption": [r.pop("caption") for r in rows]})
        write_taxonomy(tmp / taxonomy.TAXONOMY_FILE)
        manifest.write_manifest(manifest.new_rows(rows), tmp)
        write_json(tmp / "concepts.json", {spec.id: concepts(spec) for spec in CATEGORIES})
        with atomic_path(tmp / "captions.parquet") as p:
            captions.to_parquet(p, index=False)
        manifest.write_card(tmp, f"web2sky-synth-{size}", GENERATOR_VERSION, size=size, seed=seed,
                            generator_version=GENERATOR_VERSION, license=LICENSE, source="synth",
                            web_size=WEB_SIZE, chip_size=CHIP_SIZE)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def ensure_dataset(size: str = "mini", seed: int = 0, root: str | os.PathLike[str] | None = None,
                   quiet: bool = False) -> Path:
    """``dataset_dir("web2sky-synth-<size>", root)``, generated on first use (or when its seed differs)."""
    folder = dataset_dir(f"web2sky-synth-{size}", root)
    if _matches(folder, size, seed):
        return folder
    return generate_dataset(folder, size=size, seed=seed, quiet=quiet, force=True)
