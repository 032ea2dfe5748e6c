"""Wikimedia Commons through the MediaWiki Action API.

For each query the source walks two generators with ``prop=imageinfo``
(``iiprop=url|size|mime|extmetadata``): the members of ``Category:<query>``
(files only), then a full-text search in the File namespace. Continuation
follows the API's ``continue`` object. Files are fetched as server-made
thumbnails ``thumb_width`` pixels wide (``iiurlwidth``; ``None`` for the
originals), which spares Wikimedia's servers multi-megabyte originals. Every request carries ``maxlag`` (a
lagged server answers ``error.code == "maxlag"`` with ``Retry-After``; the
source waits and retries) and the crawler's descriptive User-Agent, as the
Wikimedia API etiquette asks. License and attribution come from
``extmetadata`` (``LicenseShortName``, ``Artist``/``Credit``); a file without
them yields a candidate with ``license=None`` that the crawler flags.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from web2sky_bench.acquire.crawl.base import Candidate, Source, strip_html
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.taxonomy import Category

COMMONS_API = "https://commons.wikimedia.org/w/api.php"
RASTER_MIMES = frozenset({"image/jpeg", "image/png", "image/webp"})
PAGE_SIZE = 50


class CommonsSource(Source):
    """Wikimedia Commons category members and file search."""

    name = "wikimedia"

    def __init__(
        self,
        fetcher,
        api_url: str = COMMONS_API,
        maxlag: int = 5,
        max_lag_retries: int = 5,
        page_size: int = PAGE_SIZE,
        thumb_width: int | None = 1024,
    ) -> None:
        self.fetcher = fetcher
        self.thumb_width = thumb_width
        self.api_url = api_url
        self.api_urls = (api_url,)
        self.maxlag = maxlag
        self.max_lag_retries = max_lag_retries
        self.page_size = page_size

    def search(self, category: Category, queries: list[str], limit: int) -> Iterator[Candidate]:
        """Members of ``Category:<first query>`` (Commons names categories like the display
        names), then a File-namespace search for every query."""
        seen: set[str] = set()
        members = {"generator": "categorymembers", "gcmtype": "file", "gcmlimit": self.page_size}
        searches = [
            {"generator": "search", "gsrsearch": f"{q} filetype:bitmap", "gsrnamespace": 6, "gsrlimit": self.page_size}
            for q in queries
        ]
        generators = [{**members, "gcmtitle": f"Category:{queries[0]}"}, *searches] if queries else []
        for params in generators:
            for page in self._pages(params):
                cand = self._candidate(page, category.id, bool(self.thumb_width))
                if cand is not None and cand.url not in seen:
                    seen.add(cand.url)
                    yield cand

    def _pages(self, params: dict) -> Iterator[dict]:
        """Pages of one generator, following ``continue`` until the end."""
        cont: dict = {"continue": ""}
        while True:
            data = self._query({**params, **cont})
            pages = data.get("query", {}).get("pages", {})
            items = pages.values() if isinstance(pages, dict) else pages
            yield from sorted(items, key=lambda p: p.get("index", 0))
            if "continue" not in data:
                return
            cont = data["continue"]

    def _query(self, params: dict) -> dict:
        base = {
            "action": "query",
            "format": "json",
            "formatversion": 2,
            "maxlag": self.maxlag,
            "prop": "imageinfo",
            "iiprop": "url|size|mime|extmetadata",
            "iiextmetadatafilter": "LicenseShortName|License|LicenseUrl|Artist|Credit|AttributionRequired|UsageTerms",
        }
        if self.thumb_width:
            base["iiurlwidth"] = self.thumb_width
        for attempt in range(self.max_lag_retries + 1):
            resp = self.fetcher.get(self.api_url, params={**base, **params})
            try:
                data = resp.json()
            except ValueError as exc:
                raise Web2SkyError(f"{self.api_url} did not answer JSON: {exc}") from exc
            error = data.get("error")
            if error and error.get("code") == "maxlag" and attempt < self.max_lag_retries:
                wait = resp.headers.get("Retry-After", "5")
                time.sleep(min(float(wait) if wait.isdigit() else 5.0, 60.0))
                continue
            if error:
                raise Web2SkyError(f"{self.api_url} answered error {error.get('code')}: {error.get('info')}")
            return data
        raise Web2SkyError(f"{self.api_url} stayed lagged after {self.max_lag_retries} retries; try again later")

    @staticmethod
    def _candidate(page: dict, category: str, thumb: bool) -> Candidate | None:
        infos = page.get("imageinfo") or []
        if not infos:
            return None
        info = infos[0]
        if info.get("mime") not in RASTER_MIMES or not info.get("url"):
            return None
        meta = info.get("extmetadata") or {}
        value = lambda key: strip_html((meta.get(key) or {}).get("value"))  # noqa: E731
        license_name = value("LicenseShortName") or value("License")
        artist = value("Artist") or value("Credit")
        attribution = None
        if artist:
            attribution = f"{artist}, {license_name}, via Wikimedia Commons" if license_name else artist
        url = (info.get("thumburl") if thumb else None) or info["url"]
        return Candidate(
            url=url,
            category=category,
            license=license_name,
            attribution=attribution,
            source_page=info.get("descriptionurl"),
            title=page.get("title"),
            mime=info.get("mime"),
            width=info.get("thumbwidth") if url != info["url"] else info.get("width"),
            height=info.get("thumbheight") if url != info["url"] else info.get("height"),
        )
