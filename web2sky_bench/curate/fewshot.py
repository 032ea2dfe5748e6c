"""Few-shot subsets: k images per class, per seed, identical for every model.

A subset is a sorted list of image_ids, chosen by a seeded generator from the
rows of one view and split, so that the same (k, seed) gives the same images on
every machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import write_json


def parse_k(value: str | int) -> int | None:
    """``'all'`` -> None (every image), otherwise a positive int."""
    if isinstance(value, str) and value.strip().lower() == "all":
        return None
    k = int(value)
    if k <= 0:
        raise Web2SkyError(f"k must be positive or 'all', got {value!r}")
    return k


def few_shot_ids(
    frame: pd.DataFrame, k: int | None, seed: int, view: str = "aerial", split: str = "train"
) -> list[str]:
    """Sorted image_ids of ``k`` images per category (all when ``k`` is None).

    Classes with fewer than ``k`` images contribute all they have. The draw for
    one category depends only on (seed, category, its sorted image_ids), so
    adding a category does not change the others' subsets.
    """
    rows = frame[(frame["view"] == view) & (frame["split"] == split)]
    chosen: list[str] = []
    for category, group in rows.groupby("category", sort=True):
        ids = sorted(group["image_id"].tolist())
        if k is None or len(ids) <= k:
            chosen.extend(ids)
            continue
        cat_seed = int.from_bytes(str(category).encode("utf-8")[:8].ljust(8, b"\0"), "little")
        rng = np.random.default_rng([seed, cat_seed % (2**32), len(ids)])
        chosen.extend(ids[i] for i in rng.choice(len(ids), size=k, replace=False))
    return sorted(chosen)


FEWSHOT_FILE = "fewshot.json"
DEFAULT_KS = (1, 2, 4, 8, 16)
DEFAULT_SEEDS = (1, 2, 3)


def few_shot_table(
    frame: pd.DataFrame,
    ks: tuple[int, ...] = DEFAULT_KS,
    seeds: tuple[int, ...] = DEFAULT_SEEDS,
    view: str = "aerial",
    split: str = "train",
) -> dict[str, dict[str, list[str]]]:
    """{k: {seed: sorted image_ids}} for every k and seed (keys as strings, JSON-ready)."""
    return {str(k): {str(s): few_shot_ids(frame, k, s, view, split) for s in seeds} for k in ks}


def write_few_shot(dataset_dir, frame: pd.DataFrame, ks=DEFAULT_KS, seeds=DEFAULT_SEEDS) -> Path:
    """Store the few-shot subsets as lists in ``<dataset>/fewshot.json`` (atomic)."""
    path = Path(dataset_dir) / FEWSHOT_FILE
    write_json(path, few_shot_table(frame, tuple(ks), tuple(seeds)))
    return path


def load_few_shot(dataset_dir, k: int | None, seed: int, frame: pd.DataFrame | None = None) -> list[str]:
    """The stored k-shot subset for ``seed``; computed from ``frame`` when not stored.

    ``k=None`` means every aerial train image. Raises when the subset is neither
    stored nor computable.
    """
    path = Path(dataset_dir) / FEWSHOT_FILE
    if k is not None and path.is_file():
        table = json.loads(path.read_text(encoding="utf-8"))
        stored = table.get(str(k), {}).get(str(seed))
        if stored is not None:
            return list(stored)
    if frame is None:
        raise Web2SkyError(f"no stored {k}-shot subset for seed {seed} in {path}; run `web2sky-bench split`")
    return few_shot_ids(frame, k, seed)
