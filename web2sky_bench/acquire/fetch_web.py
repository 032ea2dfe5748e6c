"""``web2sky-bench fetch-web``: download the web images a manifest lists by URL.

The job img2dataset does, for a web2sky manifest: a thread pool over one
shared :class:`~web2sky_bench.io.http.HttpClient` (retries, per-host
concurrency limit and pacing), files already present with a matching sha256
are skipped, ``X-Robots-Tag`` opt-outs (``noai``, ``noimageai``, ``noindex``,
``noimageindex``, as img2dataset honours them) are respected, non-image
content types and oversize bodies are refused, and every image is fully
decoded before it is kept. The output folder is a dataset folder
(``manifest.parquet``, ``images/web/<category>/<image_id>.<ext>``,
``dataset.json``) plus ``fetch_stats.json`` (successes, failures by reason,
bytes, images/s and every failed row).

Input: a CSV or Parquet table (or dataset folder) with at least ``image_id``,
``url`` and ``category`` (any taxonomy alias); optional ``sha256`` (expected
bytes), ``view``, ``split``, ``source``, ``license``, ``attribution``.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import io
import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image

from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.executors import Executor, Stage
from web2sky_bench.io.atomic import write_json
from web2sky_bench.io.http import USER_AGENT_TOKEN, HttpClient, HttpError
from web2sky_bench.manifest import (
    COLUMN_NAMES,
    MANIFEST_FILE,
    file_sha256,
    new_rows,
    read_manifest,
    write_card,
    write_manifest,
)

DISALLOWED_DIRECTIVES = ("noai", "noimageai", "noindex", "noimageindex")
STATS_FILE = "fetch_stats.json"
MAX_BYTES = 20 * 1024**2
BATCH_SIZE = 256  # URL rows per executor task
_FORMAT_EXT = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif"}


@dataclass
class FetchStats:
    """The outcome of one ``fetch-web`` run (written to ``fetch_stats.json``)."""

    requested: int = 0
    successes: int = 0
    skipped_present: int = 0
    failures: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    images_per_s: float = 0.0
    workers: int = 0
    failed: list[dict] = field(default_factory=list)

    def format(self) -> str:
        """A one-paragraph summary for the terminal."""
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.failures_by_reason.items())) or "none"
        return (
            f"fetched {self.successes}/{self.requested} image(s) ({self.skipped_present} already present), "
            f"{self.bytes / 1024**2:.1f} MiB in {self.seconds:.1f} s = {self.images_per_s:.1f} images/s; "
            f"failures: {self.failures} ({reasons})"
        )


def robots_disallowed(values: list[str], directives=DISALLOWED_DIRECTIVES, token: str = USER_AGENT_TOKEN) -> bool:
    """Whether ``X-Robots-Tag`` header values forbid use, the way img2dataset reads them.

    Each value is ``[ua-token:] directive, directive``; a value counts when it
    names no user agent or names ours.
    """
    for value in values:
        head, sep, rest = value.partition(":")
        ua = head.strip().lower() if sep and "," not in head else None
        found = (rest if ua is not None else value).split(",")
        if (ua is None or ua == token) and any(d.strip().lower() in directives for d in found):
            return True
    return False


def read_url_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the URL list (CSV, Parquet or dataset folder) and check its required columns."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise Web2SkyError(f"URL manifest not found: {path}")
    try:
        with open(path, "rb") as fh:
            is_parquet = fh.read(4) == b"PAR1"
        table = pd.read_parquet(path) if is_parquet else pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise Web2SkyError(f"cannot read URL manifest {path}: {exc}") from exc
    missing = [c for c in ("image_id", "url", "category") if c not in table.columns]
    if missing:
        raise Web2SkyError(f"URL manifest {path} lacks column(s) {', '.join(missing)}")
    table = table.astype(object).where(table.notna(), None)
    table = table.replace({"": None})
    dup = table["image_id"][table["image_id"].duplicated()]
    if len(dup):
        raise Web2SkyError(f"URL manifest {path}: duplicate image_id(s): {', '.join(map(str, dup[:5]))}")
    for col in ("image_id", "url", "category"):
        blank = table.index[table[col].isna()].tolist()
        if blank:
            raise Web2SkyError(f"URL manifest {path}: empty {col!r} in row(s) {blank[:10]}")
    return table.reset_index(drop=True)


class _Failure(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _fetch_one(client: HttpClient, row: dict, category: str, out_dir: Path, max_bytes: int, tax) -> dict:
    """Download, check and store one image; return its manifest row or raise :class:`_Failure`."""
    try:
        resp = client.get(row["url"], max_bytes=max_bytes)
    except HttpError as exc:
        raise _Failure(exc.reason, str(exc)) from exc
    raw_headers = getattr(resp.raw, "headers", None)
    tags = raw_headers.getlist("X-Robots-Tag") if hasattr(raw_headers, "getlist") else (
        [resp.headers["X-Robots-Tag"]] if "X-Robots-Tag" in resp.headers else [])
    if robots_disallowed(tags):
        raise _Failure("robots-tag", f"X-Robots-Tag {tags} forbids use")
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype and not ctype.startswith("image/"):
        raise _Failure("content-type", f"content type {ctype!r} is not an image")
    body = resp.content
    digest = hashlib.sha256(body).hexdigest()
    if row.get("sha256") and row["sha256"].lower() != digest:
        raise _Failure("checksum-mismatch", f"sha256 {digest}, the manifest expects {row['sha256']}")
    try:
        with Image.open(io.BytesIO(body)) as im:
            im.load()
            width, height, fmt = im.width, im.height, im.format
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise _Failure("decode", f"not a decodable image: {exc}") from exc
    rel = f"images/web/{category}/{row['image_id']}{_FORMAT_EXT.get(fmt, '.' + str(fmt).lower())}"
    dest = out_dir / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, dest)  # atomic; no fsync per image (that is what bounds throughput)
    return _row(row, category, tax, rel, digest, width, height, len(body))


def _row(row: dict, category: str, tax, rel: str, digest: str, width: int, height: int, nbytes: int) -> dict:
    return {
        "image_id": str(row["image_id"]),
        "view": row.get("view") or "web",
        "super_category": tax.get(category).super_category,
        "category": category,
        "split": row.get("split") or "unassigned",
        "path": rel,
        "sha256": digest,
        "width": width,
        "height": height,
        "source": row.get("source") or "web",
        "url": row["url"],
        "license": row.get("license"),
        "attribution": row.get("attribution"),
        "issues": [],
        "_bytes": nbytes,
    }


def _present(row: dict, previous: dict, out_dir: Path) -> dict | None:
    """The kept manifest row when the image is already on disk with a matching sha256."""
    old = previous.get(str(row["image_id"]))
    if old is None or old["url"] != row["url"]:
        return None
    if row.get("sha256") and row["sha256"].lower() != old["sha256"]:
        return None
    path = out_dir / old["path"]
    if not path.is_file() or file_sha256(path) != old["sha256"]:
        return None
    return old


def fetch_web(
    manifest: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    workers: int = 16,
    per_host: int = 8,
    min_interval: float = 0.0,
    max_bytes: int = MAX_BYTES,
    retries: int = 3,
    timeout: tuple[float, float] = (10.0, 30.0),
    client: HttpClient | None = None,
    checkpoint_s: float = 30.0,
    quiet: bool = False,
    executor: Executor | None = None,
) -> FetchStats:
    """Fetch every URL of ``manifest`` into the dataset folder ``out_dir``; see the module doc.

    The output manifest is written atomically every ``checkpoint_s`` seconds
    and at the end (also after an exception, with what succeeded), so even a
    killed run keeps its progress: a rerun skips images already present with a
    matching sha256. A Ray ``executor`` (:mod:`web2sky_bench.executors`) fetches
    batches of rows in Ray tasks, each with its own client and ``workers``
    threads (per-host limits then hold per task); ``out_dir`` must be on storage
    every node shares. The manifest is written here either way.
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = read_url_table(manifest)
    tax = taxonomy_mod.for_dataset(out_dir)
    categories = {}
    unknown = []
    for name in sorted(set(table["category"])):
        try:
            categories[name] = tax.resolve(name)
        except Web2SkyError:
            unknown.append(f"{name!r} (closest: {', '.join(tax.closest(name)) or 'none'})")
    if unknown:
        raise Web2SkyError(f"unknown categories in {manifest}: {'; '.join(unknown)}")
    previous = {}
    if (out_dir / MANIFEST_FILE).is_file():
        old = read_manifest(out_dir)
        previous = {r["image_id"]: r for r in old.to_dict("records")}
    rows = table.to_dict("records")
    stats = FetchStats(requested=len(rows), workers=workers)
    kept: dict[str, dict] = {}
    reasons: Counter = Counter()
    own = client is None
    client = client or HttpClient(retries=retries, timeout=timeout, per_host=per_host,
                                  min_interval=min_interval, pool_size=max(workers, 10))
    t0 = time.monotonic()
    todo = []
    for row in rows:
        old = _present(row, previous, out_dir)
        if old is not None:
            kept[old["image_id"]] = old
            stats.skipped_present += 1
        else:
            todo.append(row)
    bar = tqdm(total=len(todo), desc="fetch-web", unit="img", disable=quiet)
    last_checkpoint = time.monotonic()
    if executor is None or executor.name == "local":
        outcomes = _fetch_rows(client, todo, categories, out_dir, max_bytes, tax, workers)
    else:
        settings = {"retries": retries, "timeout": timeout, "per_host": per_host, "min_interval": min_interval,
                    "pool_size": max(workers, 10)}
        outcomes = _fetch_on_executor(executor, todo, categories, out_dir, max_bytes, settings, workers)
    try:
        for row, result in outcomes:
            if isinstance(result, _Failure):
                reasons[result.reason] += 1
                stats.failed.append({"image_id": str(row["image_id"]), "url": row["url"],
                                     "reason": result.reason, "message": str(result)})
            else:
                stats.bytes += result.pop("_bytes")
                kept[result["image_id"]] = result
                stats.successes += 1
            bar.update(1)
            if time.monotonic() - last_checkpoint >= checkpoint_s:
                _write_outputs(out_dir, kept, previous, stats)
                last_checkpoint = time.monotonic()
    finally:
        bar.close()
        if own:
            client.close()
        stats.seconds = time.monotonic() - t0
        stats.images_per_s = stats.successes / stats.seconds if stats.seconds > 0 else 0.0
        stats.failures = len(stats.failed)
        stats.failures_by_reason = dict(sorted(reasons.items()))
        _write_outputs(out_dir, kept, previous, stats)
    return stats


def _fetch_rows(client: HttpClient, rows: list[dict], categories: dict, out_dir: Path, max_bytes: int, tax,
                workers: int) -> Iterator[tuple[dict, dict | _Failure]]:
    """Fetch ``rows`` on a pool of ``workers`` threads; yield (row, manifest row or failure) as each finishes."""
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        pending: dict[cf.Future, dict] = {}
        it = iter(rows)
        window = workers * 4
        while True:
            while len(pending) < window:
                row = next(it, None)
                if row is None:
                    break
                fut = pool.submit(_fetch_one, client, row, categories[row["category"]], out_dir, max_bytes, tax)
                pending[fut] = row
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                row = pending.pop(fut)
                try:
                    yield row, fut.result()
                except _Failure as exc:
                    yield row, exc


def fetch_batch(batch: pd.DataFrame, out_dir: str, categories: dict, max_bytes: int, client_settings: dict,
                workers: int) -> pd.DataFrame:
    """Per-batch form of the fetch loop for the executors: URL rows -> ``result`` (manifest row JSON) or
    ``reason``/``message`` per row. Builds its own :class:`HttpClient` from ``client_settings``."""
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in batch.to_dict("records")]
    index = {id(r): i for i, r in enumerate(rows)}
    result, reason, message = [""] * len(rows), [""] * len(rows), [""] * len(rows)
    folder = Path(out_dir)
    with HttpClient(**client_settings) as client:
        for row, outcome in _fetch_rows(client, rows, categories, folder, max_bytes,
                                        taxonomy_mod.for_dataset(folder), workers):
            i = index[id(row)]
            if isinstance(outcome, _Failure):
                reason[i], message[i] = outcome.reason, str(outcome)
            else:
                result[i] = json.dumps(outcome)
    return pd.DataFrame({"result": result, "reason": reason, "message": message})


def _fetch_on_executor(executor: Executor, rows: list[dict], categories: dict, out_dir: Path, max_bytes: int,
                       settings: dict, workers: int) -> Iterator[tuple[dict, dict | _Failure]]:
    """Yield what :func:`_fetch_rows` yields, computed by :func:`fetch_batch` on ``executor``."""
    if not rows:
        return
    stage = Stage(fetch_batch, {"out_dir": str(out_dir), "categories": categories, "max_bytes": max_bytes,
                                "client_settings": settings, "workers": workers})
    done = 0
    for out in executor.iter_batches(stage, pd.DataFrame(rows), BATCH_SIZE, quiet=True):
        for row, result, reason, message in zip(rows[done:], out["result"], out["reason"], out["message"]):
            yield row, json.loads(result) if result else _Failure(reason, message)
        done += len(out)


def _write_outputs(out_dir: Path, kept: dict, previous: dict, stats: FetchStats) -> None:
    """Write the manifest (old rows not re-listed are kept), the card and the stats, atomically."""
    merged = {**previous, **kept}
    if merged:
        frame = new_rows([{k: v for k, v in r.items() if k in COLUMN_NAMES} for r in merged.values()])
        write_manifest(frame.sort_values("image_id").reset_index(drop=True), out_dir)
        write_card(out_dir, out_dir.name, "1", source="fetch-web")
    write_json(out_dir / STATS_FILE, asdict(stats))
