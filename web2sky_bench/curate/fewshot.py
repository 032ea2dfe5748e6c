"""Few-shot subsets: k images per class, per seed, identical for every model.

A subset is a sorted list of image_ids, chosen by a seeded generator from the
rows of one view and split, so that the same (k, seed) gives the same images on
every machine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from web2sky_bench.errors import Web2SkyError


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
