"""The crawl loop: sources -> robots.txt and pacing -> download -> dedup -> web manifest.

:func:`crawl` asks a :class:`~web2sky_bench.acquire.crawl.base.Source` for
candidates of each category and keeps up to ``limit`` images per category.
Every fetch goes through :class:`PoliteFetcher`: a URL its host's robots.txt
disallows is never requested (a source's own API endpoint, governed by its
API etiquette rather than robots.txt, is exempt), and request starts to one
host are spaced by the crawl interval or the host's ``Crawl-delay``.

Duplicates are dropped by URL (before any request) and by the sha256 of the
bytes (after download). Every decision is appended to ``crawl_state.jsonl``
in the output folder, flushed line by line: an interrupted crawl resumes from
it without refetching or duplicating anything. The manifest
(``manifest.parquet``) and card are rewritten after each category. Rows whose
source gives no license keep ``license`` empty and carry the issue
``no_license`` (``no_attribution`` likewise), so ``curate clean`` can drop them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image
from tqdm import tqdm

from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.acquire.crawl.base import Candidate, Source, queries_for
from web2sky_bench.acquire.crawl.robots import HostPacer, RobotsPolicy
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import atomic_path
from web2sky_bench.manifest import new_rows, write_card, write_manifest

STATE_FILE = "crawl_state.jsonl"
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}
#: X-Robots-Tag values that forbid use for AI training or indexing (img2dataset's set)
X_ROBOTS_BLOCK = frozenset({"noai", "noimageai", "noindex", "noimageindex"})
CRAWL_VERSION = "1"


class RobotsDisallowed(Web2SkyError):
    """robots.txt forbids the URL; it was not requested."""


@dataclass
class PoliteFetcher:
    """Wraps the shared :class:`~web2sky_bench.io.http.HttpClient` (anything with ``get(url, **kw)``)
    with robots.txt checks and per-host pacing."""

    fetcher: object
    robots: RobotsPolicy
    pacer: HostPacer
    exempt: tuple[str, ...] = ()
    blocked: list[str] = field(default_factory=list)

    def get(self, url: str, **kwargs):
        """GET ``url`` unless robots.txt disallows it (then :class:`RobotsDisallowed`)."""
        if self.exempt and url.startswith(self.exempt):
            self.pacer.wait(url)
        else:
            if not self.robots.allowed(url):
                self.blocked.append(url)
                raise RobotsDisallowed(f"robots.txt of {urlsplit(url).netloc} disallows {url}")
            self.pacer.wait(url, self.robots.delay(url))
        return self.fetcher.get(url, **kwargs)


@dataclass
class CrawlOptions:
    """Per-category image limit and download checks."""

    limit: int = 100
    min_side: int = 32
    max_bytes: int = 25 << 20
    split: str = "train"

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise Web2SkyError(f"--limit must be at least 1, got {self.limit}")


def is_transient(reason: str | None) -> bool:
    """Whether a skip reason may go away on a later run (network failures, 429, 5xx)."""
    return reason is not None and (reason in ("fetch_failed", "http_429") or reason.startswith("http_5"))


class CrawlState:
    """The append-only decision log of one crawl folder (resume and dedup)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen_urls: set[str] = set()
        self.hashes: set[str] = set()
        self.rows: list[dict] = []
        self.counts: Counter = Counter()
        self.reasons: Counter = Counter()
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption: that candidate is retried
                self._apply(event, resuming=True)
        self._fh = None

    def _apply(self, event: dict, resuming: bool = False) -> None:
        # transient failures are tried again by a later run, never twice in one run
        if not (resuming and is_transient(event.get("reason"))):
            self.seen_urls.add(event["url"])
        if event.get("row"):
            row = event["row"]
            self.rows.append(row)
            self.hashes.add(row["sha256"])
            self.counts[row["category"]] += 1
        else:
            self.reasons[event.get("reason", "skipped")] += 1

    def record(self, url: str, row: dict | None = None, reason: str | None = None) -> None:
        """Append one decision and flush it to disk."""
        event = {"url": url, "row": row} if row else {"url": url, "reason": reason}
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut = False
            if self.path.is_file() and self.path.stat().st_size:
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    cut = fh.read(1) != b"\n"
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the crawl
            if cut:  # end a line cut by an interruption so the next event starts clean
                self._fh.write("\n")
        self._fh.write(json.dumps(event, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._apply(event)

    def close(self) -> None:
        """Close the log file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def crawl(
    source: Source,
    categories: Iterable[str],
    out: str | os.PathLike[str],
    fetcher: PoliteFetcher,
    options: CrawlOptions | None = None,
    taxonomy: taxonomy_mod.Taxonomy | None = None,
    quiet: bool = False,
) -> dict:
    """Crawl ``categories`` from ``source`` into the dataset folder ``out``; return the card.

    Resumes from ``out/crawl_state.jsonl`` when present.
    """
    options = options or CrawlOptions()
    tax = taxonomy or taxonomy_mod.load()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise Web2SkyError(f"--out {out} is a file; pass a folder")
    cats = [tax.get(tax.resolve(c)) for c in categories]
    if not cats:
        raise Web2SkyError("no categories to crawl; pass --category ID or --all")
    state = CrawlState(out / STATE_FILE)
    try:
        for cat in cats:
            have, before = state.counts[cat.id], len(state.rows)
            bar = tqdm(
                total=options.limit, initial=min(have, options.limit), desc=f"crawl {cat.id}", unit="img", disable=quiet
            )
            if have < options.limit:
                for cand in source.search(cat, queries_for(cat), options.limit):
                    if state.counts[cat.id] >= options.limit:
                        break
                    if cand.url in state.seen_urls:
                        continue
                    row, reason = _take(cand, cat, source.name, out, fetcher, state, options)
                    state.record(cand.url, row=row, reason=reason)
                    if row:
                        bar.update(1)
            bar.close()
            if len(state.rows) > before:
                _write(out, state, source.name, options)
    finally:
        state.close()
    if not state.rows:
        raise Web2SkyError(
            f"no images kept from {source.name} for {', '.join(c.id for c in cats)}; "
            f"skipped: {dict(state.reasons) or 'no candidates found'}"
        )
    return _write(out, state, source.name, options, blocked=len(fetcher.blocked))


def _take(
    cand: Candidate, cat, source: str, out: Path, fetcher: PoliteFetcher, state: CrawlState, options: CrawlOptions
) -> tuple[dict | None, str | None]:
    """Download and check one candidate; return its manifest row or the reason it was skipped."""
    try:
        resp = fetcher.get(cand.url, max_bytes=options.max_bytes)
    except RobotsDisallowed:
        return None, "robots_disallowed"
    except Web2SkyError as exc:
        status = getattr(exc, "status", None)
        return None, f"http_{status}" if status else "fetch_failed"
    tags = {t.strip().lower() for t in resp.headers.get("X-Robots-Tag", "").replace(",", " ").split()}
    if tags & X_ROBOTS_BLOCK:
        return None, "x_robots_tag"
    data = resp.content
    digest = hashlib.sha256(data).hexdigest()
    if digest in state.hashes:
        return None, "duplicate_content"
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt, (width, height) = img.format, img.size
    except (OSError, Image.DecompressionBombError, ValueError):
        return None, "not_an_image"
    if fmt not in EXTENSIONS:
        return None, f"unsupported_format_{fmt}"
    if min(width, height) < options.min_side:
        return None, "too_small"
    image_id = f"{source}-{digest[:16]}"
    rel = f"images/web/{cat.id}/{image_id}{EXTENSIONS[fmt]}"
    with atomic_path(out / rel) as tmp:
        tmp.write_bytes(data)
    issues = [name for name, value in (("no_license", cand.license), ("no_attribution", cand.attribution)) if not value]
    row = {
        "image_id": image_id,
        "view": "web",
        "super_category": cat.super_category,
        "category": cat.id,
        "split": options.split,
        "path": rel,
        "sha256": digest,
        "width": width,
        "height": height,
        "source": source,
        "url": cand.url,
        "license": cand.license,
        "attribution": cand.attribution,
        "issues": issues,
    }
    return row, None


def _write(out: Path, state: CrawlState, source: str, options: CrawlOptions, blocked: int | None = None) -> dict:
    if not state.rows:
        return {}
    write_manifest(new_rows(state.rows), out)
    flagged = sum(1 for r in state.rows if "no_license" in r["issues"])
    extra = {
        "crawl": {
            "source": source,
            "limit_per_category": options.limit,
            "kept": len(state.rows),
            "no_license": flagged,
            "skipped": dict(sorted(state.reasons.items())),
        }
    }
    if blocked is not None:
        extra["crawl"]["robots_blocked_this_run"] = blocked
    return write_card(out, out.name, CRAWL_VERSION, **extra)
