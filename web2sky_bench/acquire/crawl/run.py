"""Wiring for ``web2sky-bench crawl``: build the source and the polite fetcher, then :func:`crawl`."""

from __future__ import annotations

import os

from web2sky_bench import __version__
from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.acquire.crawl.base import Source
from web2sky_bench.acquire.crawl.commons import COMMONS_API, CommonsSource
from web2sky_bench.acquire.crawl.crawler import CrawlOptions, PoliteFetcher, crawl
from web2sky_bench.acquire.crawl.html import HtmlPageSource
from web2sky_bench.acquire.crawl.robots import HostPacer, RobotsPolicy
from web2sky_bench.acquire.crawl.urllist import UrlListSource
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.http import HttpClient

SOURCES = ("wikimedia", "urllist", "html")


def user_agent(contact: str | None = None) -> str:
    """A descriptive User-Agent (tool, version, contact), as the Wikimedia etiquette asks."""
    who = contact or "https://github.com/web2sky/web2sky-bench"
    return f"web2sky-bench/{__version__} ({who}) crawler"


def run_crawl(
    source: str,
    out: str | os.PathLike[str],
    categories: list[str] | None = None,
    all_categories: bool = False,
    limit: int = 100,
    api_url: str = COMMONS_API,
    list_path: str | None = None,
    interval: float = 1.0,
    contact: str | None = None,
    min_side: int = 32,
    quiet: bool = False,
) -> dict:
    """Crawl ``source`` (wikimedia, urllist or html) for some or all taxonomy categories into ``out``.

    ``list_path`` is the URL list (urllist) or page list (html); ``api_url``
    the MediaWiki API endpoint (wikimedia); ``interval`` the minimum seconds
    between request starts to one host.
    """
    tax = taxonomy_mod.load()
    if all_categories == bool(categories):
        raise Web2SkyError("pass either --category ID (repeatable) or --all")
    cats = tax.ids if all_categories else [tax.resolve(c) for c in categories or []]
    default = cats[0] if len(cats) == 1 else None
    http = HttpClient(user_agent=user_agent(contact))
    robots = RobotsPolicy(http)
    polite = PoliteFetcher(http, robots, HostPacer(interval))
    src: Source
    if source == "wikimedia":
        src = CommonsSource(polite, api_url=api_url)
        polite.exempt = src.api_urls
    elif source in ("urllist", "html"):
        if not list_path:
            raise Web2SkyError(f"crawl {source} needs --list FILE (.txt, .csv or .parquet)")
        src = (
            UrlListSource(list_path, tax, default)
            if source == "urllist"
            else HtmlPageSource(list_path, tax, polite, default)
        )
    else:
        raise Web2SkyError(f"unknown crawl source {source!r}; known: {', '.join(SOURCES)}")
    return crawl(src, cats, out, polite, CrawlOptions(limit=limit, min_side=min_side), tax, quiet=quiet)
