"""HTML pages: every ``<img>`` (``src`` and the largest ``srcset`` entry) on the listed pages.

Pages come from a ``.txt`` (``PAGE_URL [CATEGORY]`` per line) or a ``.csv``/
``.parquet`` table with ``url`` (the page) and ``category`` columns. A page's license is its
``rel="license"`` link (the link text, else its URL); an ``<img>`` may
override it with ``data-license``/``data-attribution``. Attribution falls back
to ``<meta name="author">``. Pages are fetched through the crawler's polite
fetcher, so robots.txt and pacing apply to them as to images.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from web2sky_bench.acquire.crawl.base import Candidate, Source
from web2sky_bench.acquire.crawl.urllist import read_table
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.taxonomy import Category, Taxonomy


def best_srcset(srcset: str) -> str | None:
    """The URL of the widest (``w``) or densest (``x``) candidate of a ``srcset``."""
    best, best_score = None, -1.0
    for part in srcset.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        score = 1.0
        if len(bits) > 1 and re.fullmatch(r"[\d.]+[wx]", bits[1]):
            score = float(bits[1][:-1])
        if score > best_score:
            best, best_score = bits[0], score
    return best


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[dict] = []
        self.license: str | None = None
        self.license_url: str | None = None
        self.author: str | None = None
        self._in_license_link = False

    def handle_starttag(self, tag: str, attrs) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        rel = a.get("rel", "").lower().split()
        if tag == "img":
            self.images.append(a)
        elif tag in ("a", "link") and "license" in rel and self.license_url is None:
            self.license_url = a.get("href") or None
            self._in_license_link = tag == "a"
        elif tag == "meta" and a.get("name", "").lower() == "author" and a.get("content"):
            self.author = a["content"].strip()

    def handle_data(self, data: str) -> None:
        if self._in_license_link and data.strip() and self.license is None:
            self.license = data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_license_link = False


def parse_page(page_url: str, body: str, category: str) -> list[Candidate]:
    """Image candidates of one HTML page."""
    parser = _PageParser()
    parser.feed(body)
    page_license = parser.license or (urljoin(page_url, parser.license_url) if parser.license_url else None)
    out, seen = [], set()
    for img in parser.images:
        src = best_srcset(img["srcset"]) if img.get("srcset") else None
        src = src or img.get("src") or img.get("data-src")
        if not src or src.startswith("data:"):
            continue
        url = urljoin(page_url, src)
        if urlsplit(url).scheme not in ("http", "https") or url in seen:
            continue
        seen.add(url)
        out.append(
            Candidate(
                url=url,
                category=category,
                license=img.get("data-license") or page_license,
                attribution=img.get("data-attribution") or parser.author,
                source_page=page_url,
                title=img.get("alt") or None,
            )
        )
    return out


class HtmlPageSource(Source):
    """Candidates from the ``<img>`` tags of listed pages."""

    name = "html"

    def __init__(
        self, pages: str | os.PathLike[str], taxonomy: Taxonomy, fetcher, default_category: str | None = None
    ) -> None:
        frame = read_table(pages)  # 'url' holds the page URL in a .txt list
        missing = frame["category"].isna()
        if missing.any() and default_category is None:
            raise Web2SkyError(f"page list {pages}: {int(missing.sum())} page(s) have no category; pass --category")
        frame.loc[missing, "category"] = default_category
        frame["category"] = [taxonomy.resolve(c) for c in frame["category"]]
        self.frame = frame
        self.fetcher = fetcher

    def search(self, category: Category, queries: list[str], limit: int) -> Iterator[Candidate]:
        for page in self.frame.loc[self.frame["category"] == category.id, "url"]:
            try:
                resp = self.fetcher.get(page)
            except Web2SkyError:  # disallowed by robots.txt or failed: the fetcher records it
                continue
            yield from parse_page(resp.url or page, resp.text, category.id)
