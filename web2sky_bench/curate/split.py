"""Group-aware, stratified, seeded train/val/test splits and the stored few-shot subsets.

The unit of assignment is a duplicate group (``dup_group``; a row without one
is its own unit), so near duplicates never straddle splits. A group that holds
a row of a view that is not split (by default every web image is training data,
as the protocol trains on all web images) goes to train whole, across views.
Within each stratum (view, category) the units are shuffled by a generator
seeded with (seed, stratum) and dealt, largest first, to the split furthest below its
target; every split gets at least ``min_per_split`` images of a class when the
class has enough.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from web2sky_bench.curate import dataset as dataset_mod
from web2sky_bench.curate import fewshot
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.curate.clean import FILE_CHECKS
from web2sky_bench.manifest import CARD_FILE, VIEWS, read_card, read_manifest

ASSIGNED = ("train", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    """How to split: fractions, per-class minimums, which views are split."""

    val_fraction: float = 0.15
    test_fraction: float = 0.35
    min_per_split: int = 1
    split_views: tuple[str, ...] = ("aerial",)

    def __post_init__(self) -> None:
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1):
            raise Web2SkyError("val and test fractions must be in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1:
            raise Web2SkyError(
                f"val ({self.val_fraction}) + test ({self.test_fraction}) fractions leave no training data"
            )
        if self.min_per_split < 0:
            raise Web2SkyError("min_per_split must be >= 0")
        unknown = [v for v in self.split_views if v not in VIEWS]
        if unknown or not self.split_views:
            raise Web2SkyError(f"split views must be among {', '.join(VIEWS)}, got {list(self.split_views)}")


def _targets(n: int, config: SplitConfig) -> dict[str, int]:
    test = round(config.test_fraction * n)
    val = round(config.val_fraction * n)
    if n >= 3 * config.min_per_split:
        test = max(test, config.min_per_split)
        val = max(val, config.min_per_split)
        while n - test - val < config.min_per_split:
            if test >= val and test > config.min_per_split:
                test -= 1
            else:
                val -= 1
    return {"train": n - test - val, "val": val, "test": test}


def _stratum_seed(seed: int, stratum: str) -> list[int]:
    return [int(seed) & 0xFFFFFFFF, zlib.crc32(stratum.encode("utf-8"))]


def units(frame: pd.DataFrame) -> np.ndarray:
    """The unit each row is assigned with: ``g<dup_group>`` or ``r<image_id>``."""
    groups = frame["dup_group"]
    return np.array(
        [f"g{int(g)}" if pd.notna(g) else f"r{i}" for g, i in zip(groups, frame["image_id"])], dtype=object
    )


def assign_splits(frame: pd.DataFrame, seed: int = 0, config: SplitConfig | None = None) -> pd.Series:
    """The split of every row (aligned with ``frame``), group-aware, stratified per view and category."""
    config = config or SplitConfig()
    unit = units(frame)
    split = pd.Series("train", index=frame.index, dtype=object)
    in_split_view = frame["view"].isin(config.split_views).to_numpy()
    forced = set(unit[~in_split_view])  # groups holding a web image stay in train whole
    free = in_split_view & ~np.isin(unit, list(forced))

    # Strata are (view, category); a group belongs to its most common stratum (ties: sort order).
    stratum = (frame["view"] + "/" + frame["category"]).to_numpy()
    rows = pd.DataFrame({"unit": unit[free], "stratum": stratum[free]})
    votes = rows.groupby(["unit", "stratum"]).size().rename("n").reset_index()
    votes = votes.sort_values(["unit", "n", "stratum"], ascending=[True, False, True], kind="stable")
    unit_stratum = votes.drop_duplicates("unit").set_index("unit")["stratum"]
    unit_size = rows.groupby("unit").size()
    forced_train = pd.Series(stratum[in_split_view & ~free]).value_counts()
    assignment: dict[str, str] = {}
    for key in sorted(unit_stratum.unique()):
        members = sorted(unit_stratum.index[unit_stratum == key])
        rng = np.random.default_rng(_stratum_seed(seed, key))
        members = [members[i] for i in rng.permutation(len(members))]
        members.sort(key=lambda u: -int(unit_size[u]))  # stable: shuffled order within a size
        pre = int(forced_train.get(key, 0))
        target = _targets(int(unit_size[members].sum()) + pre, config)
        filled = {"train": pre, "val": 0, "test": 0}
        for u in members:
            best = max(("test", "val", "train"), key=lambda s: target[s] - filled[s])
            assignment[u] = best
            filled[best] += int(unit_size[u])
    free_idx = np.flatnonzero(free)
    split.iloc[free_idx] = [assignment[u] for u in unit[free]]
    return split


def _unhashed(frame: pd.DataFrame) -> pd.Series:
    """Rows without a perceptual hash that ``clean`` did not find unreadable."""
    broken = frame["issues"].map(lambda issues: bool(set(issues) & set(FILE_CHECKS)))
    return frame["phash"].isna() & ~broken


@dataclass
class SplitResult:
    """The split manifest, counts per class and split, and the few-shot file."""

    frame: pd.DataFrame
    counts: pd.DataFrame
    fewshot: Path
    deduplicated: bool


def split_counts(frame: pd.DataFrame, views: tuple[str, ...] = ("aerial",)) -> pd.DataFrame:
    """Images per (view, category) and split for ``views`` (columns train/val/test/unassigned)."""
    rows = frame[frame["view"].isin(views)]
    table = rows.groupby(["view", "category", "split"]).size().unstack("split", fill_value=0)
    for s in (*ASSIGNED, "unassigned"):
        if s not in table.columns:
            table[s] = 0
    return table[[*ASSIGNED, "unassigned"]].astype(int)


def split_dataset(
    dataset: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    config: SplitConfig | None = None,
    ks: tuple[int, ...] = fewshot.DEFAULT_KS,
    fewshot_seeds: tuple[int, ...] = fewshot.DEFAULT_SEEDS,
    dedup: str = "auto",
    quiet: bool = False,
) -> SplitResult:
    """Assign splits, write the manifest, ``fewshot.json`` and the split settings in ``dataset.json``.

    ``dedup``: ``"auto"`` runs near-duplicate detection first when some
    readable row has no perceptual hash yet (so groups are current), with the
    settings of the last ``dedup`` run (``dataset.json``); ``"always"`` or
    ``"never"``.
    """
    if dedup not in ("auto", "always", "never"):
        raise Web2SkyError(f"dedup must be auto, always or never, got {dedup!r}")
    config = config or SplitConfig()
    folder = dataset_mod.resolve(dataset, root)
    frame = read_manifest(folder)
    ran_dedup = dedup == "always" or (dedup == "auto" and bool(_unhashed(frame).any()))
    if ran_dedup:
        from web2sky_bench.curate.dedup import dedup_dataset

        settings = {}
        if (folder / CARD_FILE).is_file():
            settings = read_card(folder).get("dedup", {})
        frame = dedup_dataset(folder, quiet=quiet, **settings).frame
    frame = frame.copy()
    frame["split"] = assign_splits(frame, seed, config).to_numpy()
    dataset_mod.save(frame, folder, split={"seed": seed, **asdict(config), "split_views": list(config.split_views)})
    path = fewshot.write_few_shot(folder, frame, ks, fewshot_seeds)
    return SplitResult(frame, split_counts(frame, config.split_views), path, ran_dedup)
