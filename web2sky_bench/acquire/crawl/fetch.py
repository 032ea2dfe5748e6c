"""The crawler's HTTP access: a small GET with retries on 429/5xx, honouring ``Retry-After``.

A stand-in until the shared :class:`web2sky_bench.io.http.HttpClient` lands;
it exposes the same call, ``get(url, **kwargs) -> requests.Response``.
"""

from __future__ import annotations

import time

import requests

from web2sky_bench import __version__
from web2sky_bench.errors import Web2SkyError

USER_AGENT = f"web2sky-bench/{__version__} (+https://github.com/web2sky/web2sky-bench; crawler)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class FetchError(Web2SkyError):
    """A request that failed for good; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Fetcher:
    """GET with a descriptive User-Agent, timeouts, and retries on 429/5xx and connection errors."""

    def __init__(
        self,
        user_agent: str = USER_AGENT,
        retries: int = 4,
        backoff: float = 0.5,
        max_retry_after: float = 60.0,
        timeout: tuple[float, float] = (10.0, 60.0),
    ) -> None:
        self.user_agent = user_agent
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent

    def get(
        self, url: str, *, max_bytes: int | None = None, raise_for_status: bool = True, **kwargs
    ) -> requests.Response:
        """GET ``url``; retry transient failures; raise :class:`FetchError` for a final one."""
        kwargs.setdefault("timeout", self.timeout)
        for attempt in range(self.retries + 1):
            try:
                resp = self.session.get(url, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self.retries:
                    raise FetchError(f"giving up on {url}: {exc}") from exc
                time.sleep(self.backoff * 2**attempt)
                continue
            if resp.status_code in RETRY_STATUSES and attempt < self.retries:
                wait = resp.headers.get("Retry-After", "")
                time.sleep(min(float(wait), self.max_retry_after) if wait.isdigit() else self.backoff * 2**attempt)
                continue
            if raise_for_status and resp.status_code >= 400:
                raise FetchError(f"HTTP {resp.status_code} for {url}", status=resp.status_code)
            if max_bytes is not None and len(resp.content) > max_bytes:
                raise FetchError(f"{url}: body exceeds {max_bytes} bytes")
            return resp
        raise AssertionError("unreachable")
