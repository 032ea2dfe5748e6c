"""User-supplied URL lists: ``.txt`` (``URL [CATEGORY]`` per line), ``.csv`` or ``.parquet``.

Tables need a ``url`` column and may have ``category``, ``license``,
``attribution`` and ``source_page``. Categories may be ids, display names or
aliases. Rows without a category belong to the one category being crawled
(``default_category``); without one the list is rejected up front.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from web2sky_bench.acquire.crawl.base import Candidate, Source
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.taxonomy import Category, Taxonomy

COLUMNS = ("url", "category", "license", "attribution", "source_page")


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A URL list as a frame with :data:`COLUMNS` (absent ones empty)."""
    path = Path(path)
    if not path.is_file():
        raise Web2SkyError(f"URL list not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    elif suffix in (".txt", ".lst", ""):
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.strip().split(None, 1)
            if parts and not parts[0].startswith("#"):
                rows.append({"url": parts[0], "category": parts[1].strip() if len(parts) > 1 else None})
        frame = pd.DataFrame(rows, columns=["url", "category"])
    else:
        raise Web2SkyError(f"URL list {path}: unknown format {suffix!r}; use .txt, .csv or .parquet")
    if "url" not in frame.columns:
        raise Web2SkyError(f"URL list {path} has no 'url' column (columns: {', '.join(map(str, frame.columns))})")
    for col in COLUMNS:
        if col not in frame.columns:
            frame[col] = None
    frame = frame[list(COLUMNS)].astype(object)
    return frame.where(frame.notna() & (frame != ""), None)


class UrlListSource(Source):
    """Candidates from a list of image URLs."""

    name = "urllist"

    def __init__(self, path: str | os.PathLike[str], taxonomy: Taxonomy, default_category: str | None = None) -> None:
        frame = read_table(path)
        missing = frame["category"].isna()
        if missing.any() and default_category is None:
            raise Web2SkyError(
                f"URL list {path}: {int(missing.sum())} row(s) have no category; add a category column "
                "or crawl one category with --category"
            )
        frame.loc[missing, "category"] = default_category
        frame["category"] = [taxonomy.resolve(c) for c in frame["category"]]
        self.frame = frame

    def search(self, category: Category, queries: list[str], limit: int) -> Iterator[Candidate]:
        for row in self.frame[self.frame["category"] == category.id].to_dict("records"):
            yield Candidate(
                url=row["url"],
                category=category.id,
                license=row["license"],
                attribution=row["attribution"],
                source_page=row["source_page"],
            )
