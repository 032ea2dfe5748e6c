"""robots.txt per host (urllib.robotparser) and per-host pacing for polite crawling."""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from urllib.parse import urlsplit

ROBOTS_AGENT = "web2sky-bench"


class RobotsPolicy:
    """Fetches and caches each host's robots.txt; answers whether a URL may be fetched.

    Per RFC 9309: a missing robots.txt (4xx) allows everything; an unreachable
    one (5xx, network error) disallows everything on that host for this run.
    ``Crawl-delay`` is honoured by :class:`HostPacer` through :meth:`delay`.
    """

    def __init__(self, fetcher, agent: str = ROBOTS_AGENT) -> None:
        self.fetcher = fetcher
        self.agent = agent
        self._parsers: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._lock = threading.Lock()

    def _parser(self, url: str) -> urllib.robotparser.RobotFileParser:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        with self._lock:
            if origin in self._parsers:
                return self._parsers[origin]
        parser = urllib.robotparser.RobotFileParser(origin + "/robots.txt")
        try:
            resp = self.fetcher.get(origin + "/robots.txt", raise_for_status=False)
            status = resp.status_code
        except Exception:  # noqa: BLE001 - any failure to read robots.txt means: do not crawl this host
            status = 503
        if status >= 500:
            parser.disallow_all = True
        elif status >= 400:
            parser.allow_all = True
        else:
            parser.parse(resp.text.splitlines())
        parser.modified()
        with self._lock:
            self._parsers[origin] = parser
        return parser

    def allowed(self, url: str) -> bool:
        """Whether robots.txt of the URL's host lets this agent fetch it."""
        return self._parser(url).can_fetch(self.agent, url)

    def delay(self, url: str) -> float:
        """The host's ``Crawl-delay`` for this agent in seconds (0 when none)."""
        value = self._parser(url).crawl_delay(self.agent)
        return float(value) if value else 0.0


class HostPacer:
    """Spaces request starts to each host by at least ``interval`` seconds (or the host's Crawl-delay)."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, url: str, crawl_delay: float = 0.0) -> None:
        """Block until a request to the URL's host may start."""
        host = urlsplit(url).netloc.lower()
        gap = max(self.interval, crawl_delay)
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, 0.0))
            self._next[host] = start + gap
        if start > now:
            time.sleep(start - now)
