"""The source interface: search one category up to a limit, yielding candidates with their license.

A source is anything with a ``name`` and
``search(category, queries, limit) -> Iterator[Candidate]``. Sources are lazy:
the crawler stops pulling once a category has ``limit`` images, so a source
never has to know how many candidates will be rejected (robots.txt,
duplicates, broken files). Queries come from the taxonomy via
:func:`queries_for`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

from web2sky_bench.taxonomy import Category, normalize_label


@dataclass(frozen=True)
class Candidate:
    """A web image a source proposes for one category."""

    url: str
    category: str
    license: str | None = None
    attribution: str | None = None
    source_page: str | None = None
    title: str | None = None
    mime: str | None = None
    width: int | None = None
    height: int | None = None


class Source:
    """Base class of crawl sources."""

    #: the ``source`` value in the manifest and the name on the command line
    name: str = ""
    #: URLs of this source's own API; robots.txt governs content, not a documented API
    api_urls: tuple[str, ...] = ()

    def search(self, category: Category, queries: list[str], limit: int) -> Iterator[Candidate]:
        """Yield candidates for ``category`` (at most about ``limit`` per query page)."""
        raise NotImplementedError


def queries_for(category: Category) -> list[str]:
    """Search phrases for a category: its display name, then aliases with a super-category hint.

    Aliases shorter than four characters or without letters (``737``, ``sub``)
    are dropped: alone they match mostly unrelated files.
    """
    hint = "aircraft" if category.super_category == "aircraft" else "ship"
    out = [category.display_name]
    seen = {normalize_label(category.display_name)}
    for alias in category.aliases:
        key = normalize_label(alias)
        if len(key) < 4 or not re.search(r"[a-z]", key) or key in seen:
            continue
        seen.add(key)
        out.append(alias if hint in alias.lower() else f"{alias} {hint}")
    return out


def strip_html(value: str | None) -> str | None:
    """Text of an HTML fragment (Commons ``Artist`` fields are HTML), whitespace collapsed."""
    if not value:
        return None
    text = re.sub(r"<[^>]+>", " ", value)
    text = re.sub(r"\s+", " ", html.unescape(text)).strip()
    return text or None
