"""Categories, their hierarchy and aliases.

The data lives in ``manifests/taxonomy.csv`` (one row per fine-grained
category: super_category -> family -> category, display name, aliases and the
labels it carries in public datasets). A dataset folder may ship its own
``taxonomy.csv`` (the synthetic benchmark does); :func:`for_dataset` prefers it.

Public-dataset label columns hold ``|``-separated labels; each label maps to
exactly one category.
"""

from __future__ import annotations

import csv
import difflib
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.paths import manifests_dir

SUPER_CATEGORIES = ("aircraft", "ship")
BASE_COLUMNS = ("category", "super_category", "family", "display_name", "aliases")
#: Columns of ``taxonomy.csv`` holding labels used by public datasets.
SOURCE_COLUMNS = ("mar20", "fair1m", "hrsc2016", "shiprsimagenet", "fgsc23", "fgvc_aircraft")
TAXONOMY_FILE = "taxonomy.csv"


def normalize_label(label: str) -> str:
    """Fold case, spaces and punctuation: ``'F/A-18 Hornet'`` -> ``'fa18hornet'``."""
    return re.sub(r"[^0-9a-z]+", "", str(label).lower())


@dataclass(frozen=True)
class Category:
    """One fine-grained category."""

    id: str
    super_category: str
    family: str
    display_name: str
    aliases: tuple[str, ...] = ()
    source_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Taxonomy:
    """An ordered set of categories with alias and public-label lookup."""

    def __init__(self, categories: list[Category], source: str = "<memory>") -> None:
        self.source = source
        self._by_id: dict[str, Category] = {}
        self._alias: dict[str, str] = {}
        self._labels: dict[str, dict[str, str]] = {}
        for cat in categories:
            if cat.id in self._by_id:
                raise Web2SkyError(f"{source}: category {cat.id!r} is listed twice")
            if cat.super_category not in SUPER_CATEGORIES:
                raise Web2SkyError(
                    f"{source}: category {cat.id!r} has super_category {cat.super_category!r}; "
                    f"expected one of {', '.join(SUPER_CATEGORIES)}"
                )
            self._by_id[cat.id] = cat
        for cat in categories:  # ids first so an alias never shadows an id
            for name in (cat.id, cat.display_name, *cat.aliases):
                self._alias.setdefault(normalize_label(name), cat.id)
            for dataset, labels in cat.source_labels.items():
                table = self._labels.setdefault(dataset, {})
                for label in labels:
                    if label in table and table[label] != cat.id:
                        raise Web2SkyError(
                            f"{source}: {dataset} label {label!r} maps to both "
                            f"{table[label]!r} and {cat.id!r}"
                        )
                    table[label] = cat.id

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> Taxonomy:
        """Load a taxonomy CSV with the columns of ``manifests/taxonomy.csv``."""
        path = Path(path)
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as exc:
            raise Web2SkyError(f"cannot read taxonomy {path}: {exc.strerror}") from exc
        if not rows:
            raise Web2SkyError(f"taxonomy {path} has no categories")
        missing = [c for c in BASE_COLUMNS[:3] if c not in rows[0]]
        if missing:
            raise Web2SkyError(f"taxonomy {path} lacks column(s) {', '.join(missing)}")
        categories = []
        for row in rows:
            split = lambda v: tuple(x.strip() for x in (v or "").split("|") if x.strip())  # noqa: E731
            categories.append(
                Category(
                    id=row["category"].strip(),
                    super_category=row["super_category"].strip(),
                    family=(row.get("family") or "").strip() or row["super_category"].strip(),
                    display_name=(row.get("display_name") or "").strip() or row["category"].strip(),
                    aliases=split(row.get("aliases")),
                    source_labels={c: split(row.get(c)) for c in SOURCE_COLUMNS if split(row.get(c))},
                )
            )
        return cls(categories, source=str(path))

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self):
        return iter(self._by_id.values())

    @property
    def ids(self) -> list[str]:
        """Category ids in file order."""
        return list(self._by_id)

    def get(self, category_id: str) -> Category:
        """The category with this exact id, or an error listing close ids."""
        try:
            return self._by_id[category_id]
        except KeyError:
            raise Web2SkyError(self._unknown_message(category_id)) from None

    def ids_for(self, super_category: str) -> list[str]:
        """Category ids of one super-category (``aircraft`` or ``ship``)."""
        return [c.id for c in self if c.super_category == super_category]

    def resolve(self, name: str) -> str:
        """Map an id, display name or alias (any case/punctuation) to a category id."""
        if name in self._by_id:
            return name
        found = self._alias.get(normalize_label(name))
        if found is None:
            raise Web2SkyError(self._unknown_message(name))
        return found

    def from_source_label(self, dataset: str, label: str) -> str:
        """Map a public dataset's label (e.g. MAR20 ``'A5'``) to a category id."""
        table = self._labels.get(dataset)
        if table is None:
            raise Web2SkyError(
                f"the taxonomy has no labels for dataset {dataset!r}; "
                f"known: {', '.join(sorted(self._labels))}"
            )
        if label in table:
            return table[label]
        folded = {normalize_label(k): v for k, v in table.items()}
        if normalize_label(label) in folded:
            return folded[normalize_label(label)]
        close = difflib.get_close_matches(label, list(table), n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise Web2SkyError(f"unknown {dataset} label {label!r}{hint}")

    def source_labels(self, dataset: str) -> dict[str, str]:
        """All labels of one public dataset with their category ids."""
        return dict(self._labels.get(dataset, {}))

    def closest(self, name: str, n: int = 5) -> list[str]:
        """Category ids whose id or alias is closest to ``name``."""
        keys = list(self._alias)
        close = difflib.get_close_matches(normalize_label(name), keys, n=n * 3, cutoff=0.4)
        out: list[str] = []
        for key in close:
            cid = self._alias[key]
            if cid not in out:
                out.append(cid)
        return out[:n]

    def _unknown_message(self, name: str) -> str:
        close = self.closest(name)
        hint = f"; closest matches: {', '.join(close)}" if close else ""
        return f"unknown category {name!r} (taxonomy {self.source}){hint}"


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> Taxonomy:
    return Taxonomy.from_csv(path)


def load(path: str | os.PathLike[str] | None = None) -> Taxonomy:
    """Load a taxonomy CSV (default: the shipped ``manifests/taxonomy.csv``)."""
    p = Path(path) if path else manifests_dir() / TAXONOMY_FILE
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise Web2SkyError(f"taxonomy file not found: {p}") from exc
    return _load_cached(str(p.resolve()), mtime)


def for_dataset(dataset_dir: str | os.PathLike[str] | None) -> Taxonomy:
    """The taxonomy a dataset folder uses: its own ``taxonomy.csv`` or the shipped one."""
    if dataset_dir is not None:
        own = Path(dataset_dir) / TAXONOMY_FILE
        if own.is_file():
            return load(own)
    return load()
