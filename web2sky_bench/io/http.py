"""The shared HTTP client: retries, timeouts, per-host limits, resumable checksummed downloads.

One :class:`HttpClient` (one ``requests.Session``) serves every downloader in
the project: release downloads, ``fetch-web`` and the crawler.

* :meth:`HttpClient.get` fetches a (small) URL into memory with retries. It is
  the call other modules use::

      client = HttpClient()
      resp = client.get("https://example.org/api", params={"q": "x"})
      resp.json()

  It retries connection errors, timeouts, 5xx and 429 (honouring
  ``Retry-After``) with exponential backoff and jitter, raises
  :class:`HttpError` (a :class:`Web2SkyError`) for a final failure, and returns
  the ``requests.Response`` with its body already read.
* :meth:`HttpClient.download` streams a file to ``<dest>.part``, resumes it
  with an HTTP ``Range`` request after an interruption (also across processes),
  checks size and sha256 and renames it into place atomically. A file that
  fails its checks is moved to ``<dest>.corrupt``; it is never left at ``dest``.

Every request holds a per-host slot (at most ``per_host`` concurrent requests
to one host, optionally ``min_interval`` seconds between request starts), so
a thread pool stays polite to each server.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from web2sky_bench import __version__
from web2sky_bench.errors import Web2SkyError

USER_AGENT_TOKEN = "web2sky-bench"
USER_AGENT = f"{USER_AGENT_TOKEN}/{__version__} (+https://github.com/web2sky/web2sky-bench)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CHUNK = 1 << 16


class HttpError(Web2SkyError):
    """A request that failed for good; ``reason`` is a short machine-readable tag.

    Reasons: ``http-<status>``, ``connection``, ``timeout``, ``redirect-loop``,
    ``too-large``, ``size-mismatch``, ``checksum-mismatch``, ``invalid-url``.
    """

    def __init__(self, message: str, *, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason
        self.status = status


@dataclass
class DownloadResult:
    """What :meth:`HttpClient.download` did."""

    path: Path
    size: int
    sha256: str
    downloaded: int  # bytes transferred by this call (0 when already present)
    resumed_from: int  # offset of the first Range request, 0 when none
    checksum: str  # "verified" (matched the expected sha256) or "computed" (none expected)
    skipped: bool = False  # already present and valid


class _Retryable(Exception):
    """Internal: a transient failure; ``wait`` overrides the backoff (Retry-After)."""

    def __init__(self, reason: str, detail: str, status: int | None = None, wait: float | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.wait = wait
        self.progressed = False  # set when bytes were kept for a resume: not counted as a strike


class _HostSlots:
    """Per-host semaphores and start-interval pacing."""

    def __init__(self, per_host: int, min_interval: float) -> None:
        self.per_host = per_host
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._sems: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextlib.contextmanager
    def hold(self, host: str) -> Iterator[None]:
        with self._lock:
            sem = self._sems.setdefault(host, threading.BoundedSemaphore(self.per_host))
        with sem:
            if self.min_interval > 0:
                with self._lock:
                    now = time.monotonic()
                    start = max(now, self._next_start.get(host, 0.0))
                    self._next_start[host] = start + self.min_interval
                if start > now:
                    time.sleep(start - now)
            yield


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """One requests Session with retries, timeouts, per-host limits and resumable downloads.

    Parameters: ``retries`` extra attempts after the first; ``backoff`` the base
    delay in seconds (doubled per attempt, times a random factor in
    [1 - jitter, 1 + jitter], capped at ``max_backoff``); ``max_retry_after``
    caps a server's ``Retry-After``; ``timeout`` is (connect, read) seconds;
    ``per_host`` concurrent requests per host; ``min_interval`` seconds between
    request starts to one host; ``pool_size`` connections kept per host.
    """

    def __init__(
        self,
        *,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        jitter: float = 0.5,
        max_retry_after: float = 120.0,
        timeout: tuple[float, float] = (10.0, 60.0),
        per_host: int = 8,
        min_interval: float = 0.0,
        pool_size: int = 32,
        max_redirects: int = 10,
        user_agent: str = USER_AGENT,
        seed: int | None = None,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.jitter = jitter
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.user_agent = user_agent
        self._rng = random.Random(seed)
        self._slots = _HostSlots(per_host, min_interval)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.max_redirects = max_redirects
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        """Close the underlying session and its connections."""
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- retry machinery -------------------------------------------------

    def _delay(self, attempt: int, wait: float | None) -> float:
        if wait is not None:
            return min(wait, self.max_retry_after)
        base = min(self.max_backoff, self.backoff * (2**attempt))
        return base * self._rng.uniform(1 - self.jitter, 1 + self.jitter)

    @staticmethod
    def _host(url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise HttpError(f"not an http(s) URL: {url!r}", url=url, reason="invalid-url")
        return parts.netloc.lower()

    def _send(self, url: str, *, stream: bool, headers: dict | None = None, **kw) -> requests.Response:
        """One request; transient failures become :class:`_Retryable`, final ones :class:`HttpError`."""
        kw.setdefault("timeout", self.timeout)
        try:
            resp = self.session.get(url, stream=stream, headers=headers, **kw)
        except requests.TooManyRedirects as exc:
            raise HttpError(f"redirect loop or too many redirects at {url}: {exc}", url=url,
                            reason="redirect-loop") from exc
        except requests.Timeout as exc:
            raise _Retryable("timeout", f"timed out: {exc}") from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise _Retryable("connection", f"connection failed: {exc}") from exc
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema) as exc:
            raise HttpError(f"invalid URL {url!r}: {exc}", url=url, reason="invalid-url") from exc
        if resp.status_code in RETRY_STATUSES:
            wait = parse_retry_after(resp.headers.get("Retry-After")) if resp.status_code in (429, 503) else None
            resp.close()
            raise _Retryable(f"http-{resp.status_code}", f"HTTP {resp.status_code} {resp.reason}",
                             status=resp.status_code, wait=wait)
        return resp

    def _with_retries(self, url: str, attempt_fn):
        """Run ``attempt_fn()`` until it returns, retrying :class:`_Retryable` failures."""
        failures = 0
        while True:
            try:
                return attempt_fn()
            except _Retryable as exc:
                if exc.progressed:
                    failures = 0  # a resumed transfer moved forward
                if failures >= self.retries:
                    raise HttpError(
                        f"giving up on {url} after {failures + 1} attempt(s): {exc.detail}",
                        url=url, reason=exc.reason, status=exc.status,
                    ) from exc
                time.sleep(self._delay(failures, exc.wait))
                failures += 1

    # -- public API ------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        raise_for_status: bool = True,
        **kwargs,
    ) -> requests.Response:
        """GET ``url`` with retries and return the response with its body read.

        ``kwargs`` go to ``requests.Session.get`` (``params``, ``headers``,
        ``timeout``, ...). A body longer than ``max_bytes`` raises
        :class:`HttpError` with reason ``too-large`` (checked against
        Content-Length first, then while reading). A final 4xx/5xx raises
        :class:`HttpError` with reason ``http-<status>`` unless
        ``raise_for_status=False``. For large files use :meth:`download`.
        """
        kwargs.pop("stream", None)
        host = self._host(url)

        def attempt() -> requests.Response:
            with self._slots.hold(host):
                resp = self._send(url, stream=True, **kwargs)
                try:
                    resp._content = self._read_body(resp, url, max_bytes)
                except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as exc:
                    raise _Retryable("connection", f"connection broken while reading the body: {exc}") from exc
                finally:
                    resp.close()
            return resp

        resp = self._with_retries(url, attempt)
        if raise_for_status and resp.status_code >= 400:
            raise HttpError(f"HTTP {resp.status_code} {resp.reason} for {url}", url=url,
                            reason=f"http-{resp.status_code}", status=resp.status_code)
        return resp

    @staticmethod
    def _read_body(resp: requests.Response, url: str, max_bytes: int | None) -> bytes:
        declared = resp.headers.get("Content-Length")
        if max_bytes is not None and declared and declared.isdigit() and int(declared) > max_bytes:
            raise HttpError(f"{url}: body of {int(declared)} bytes exceeds the limit of {max_bytes}",
                            url=url, reason="too-large")
        chunks, total = [], 0
        for chunk in iter_body(resp):
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise HttpError(f"{url}: body exceeds the limit of {max_bytes} bytes", url=url,
                                reason="too-large")
            chunks.append(chunk)
        return b"".join(chunks)

    def download(
        self,
        url: str,
        dest: str | os.PathLike[str],
        sha256: str | None = None,
        size: int | None = None,
        *,
        force: bool = False,
        quiet: bool = False,
        desc: str | None = None,
    ) -> DownloadResult:
        """Download ``url`` to ``dest`` with resume, verification and an atomic rename.

        An existing ``dest`` that matches ``sha256`` (or ``size`` when no
        checksum is known) is kept unless ``force``. Bytes stream to
        ``<dest>.part``; a later call (in this or another process) resumes
        from its end with a ``Range`` request, or starts over when the server
        ignores ranges or the file changed (``If-Range``). A size or checksum
        mismatch moves the file to ``<dest>.corrupt`` and raises
        :class:`HttpError`.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if sha256 is not None:
            sha256 = sha256.lower()
        if dest.exists() and not force:
            have = _sha256_file(dest)
            if (sha256 is None or have == sha256) and (size is None or dest.stat().st_size == size):
                return DownloadResult(dest, dest.stat().st_size, have, 0, 0,
                                      "verified" if sha256 else "computed", skipped=True)
            _move_aside(dest)
        host = self._host(url)
        part = dest.with_name(dest.name + ".part")
        meta_path = dest.with_name(dest.name + ".part.json")
        if force:
            part.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
        state = {"downloaded": 0, "resumed_from": None}

        def attempt() -> None:
            with self._slots.hold(host):
                self._transfer(url, part, meta_path, size, state, quiet, desc or dest.name, sha256)

        self._with_retries(url, attempt)
        total = part.stat().st_size
        digest = state["sha256"]
        expected_size = size if size is not None else state.get("total")
        if (expected_size is not None and total != expected_size) or (sha256 and digest != sha256):
            meta_path.unlink(missing_ok=True)
        if expected_size is not None and total != expected_size:
            bad = _move_aside(part, dest)
            raise HttpError(
                f"size mismatch for {dest.name}: expected {expected_size} bytes, got {total}; "
                f"the file was moved to {bad}. Retry, or try another mirror (--mirror).",
                url=url, reason="size-mismatch",
            )
        if sha256 is not None and digest != sha256:
            bad = _move_aside(part, dest)
            raise HttpError(
                f"checksum mismatch for {dest.name}: expected sha256 {sha256}, got {digest}; "
                f"the file was moved to {bad}. Retry, or try another mirror (--mirror).",
                url=url, reason="checksum-mismatch",
            )
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, dest)
        meta_path.unlink(missing_ok=True)
        return DownloadResult(dest, total, digest, state["downloaded"], state["resumed_from"] or 0,
                              "verified" if sha256 else "computed")

    def _transfer(self, url, part: Path, meta_path: Path, size, state, quiet, desc, sha256) -> None:
        """One attempt: (re)open the part file, request the rest, stream it, hash everything."""
        from tqdm.auto import tqdm

        meta = _read_meta(meta_path)
        offset = part.stat().st_size if part.exists() else 0
        # Only resume bytes that came from this URL, or that a known checksum will vet.
        if offset and meta.get("url") != url and sha256 is None:
            offset = 0
        if size is not None and offset > size:
            offset = 0
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            validator = meta.get("etag") or meta.get("last_modified")
            if validator and meta.get("url") == url:
                headers["If-Range"] = validator
        resp = self._send(url, stream=True, headers=headers)
        try:
            if resp.status_code == 416 and offset:
                # Range not satisfiable: either the part is complete or it is stale.
                total = _content_range_total(resp.headers.get("Content-Range"))
                if total is not None and total == offset:
                    state["total"] = total
                    state["sha256"] = _sha256_file(part)
                    return
                part.unlink(missing_ok=True)
                raise _Retryable("http-416", "stale partial file discarded (416); starting over")
            if resp.status_code >= 400:
                raise HttpError(f"HTTP {resp.status_code} {resp.reason} for {url}", url=url,
                                reason=f"http-{resp.status_code}", status=resp.status_code)
            if resp.status_code == 206 and offset:
                start = _content_range_start(resp.headers.get("Content-Range"))
                if start != offset:
                    raise _Retryable("connection", f"server answered range start {start}, asked {offset}")
                mode = "ab"
                total = _content_range_total(resp.headers.get("Content-Range"))
                if state["resumed_from"] is None:
                    state["resumed_from"] = offset
            else:  # 200: no range support, or the resource changed (If-Range)
                offset, mode = 0, "wb"
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            if total is not None:
                state["total"] = total
            _write_meta(meta_path, {
                "url": url,
                "etag": resp.headers.get("ETag"),
                "last_modified": resp.headers.get("Last-Modified"),
            })
            digest = hashlib.sha256()
            if mode == "ab":
                with open(part, "rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
            written = 0
            bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                       desc=desc, disable=quiet, leave=False)
            try:
                with open(part, mode) as fh:
                    try:
                        for chunk in iter_body(resp):
                            fh.write(chunk)
                            digest.update(chunk)
                            written += len(chunk)
                            state["downloaded"] += len(chunk)
                            bar.update(len(chunk))
                            if size is not None and offset + written > size:
                                break  # longer than expected: stop, the size check reports it
                    except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError) as exc:
                        fh.flush()
                        err = _Retryable("connection", f"transfer interrupted after "
                                                       f"{offset + written} bytes: {exc}")
                        # Bytes kept from a ranged answer are real progress: not a strike.
                        err.progressed = written > 0 and resp.status_code == 206
                        raise err from exc
            finally:
                bar.close()
            state["sha256"] = digest.hexdigest()
        finally:
            resp.close()


def iter_body(resp: requests.Response, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield a streamed body as the bytes arrive (``read1``), so a broken connection
    loses nothing already received; errors surface as requests exceptions."""
    raw = resp.raw
    if not hasattr(raw, "read1"):
        yield from resp.iter_content(chunk)
        return
    try:
        while data := raw.read1(chunk, decode_content=True):
            yield data
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from exc
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError, OSError) as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        return None
    span = value[6:].split("/")[0]
    start = span.split("-")[0]
    return int(start) if start.isdigit() else None


def _content_range_total(value: str | None) -> int | None:
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _read_meta(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _write_meta(path: Path, meta: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp, path)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _move_aside(path: Path, final: Path | None = None) -> Path:
    """Move a bad file to ``<final>.corrupt`` (replacing an older one) and return that path."""
    final = final or path
    bad = final.with_name(final.name + ".corrupt")
    os.replace(path, bad)
    return bad
