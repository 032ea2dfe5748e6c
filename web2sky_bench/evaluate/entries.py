"""Leaderboard entries: build, validate (JSON Schema), write and load.

One entry is one JSON file per run (a model with its config, or an external
submission, evaluated on one benchmark and track over the protocol's k-shots
and seeds) at ``<leaderboard>/<benchmark>/<track>/entries/<entry_id>.json``,
next to ``<entry_id>.predictions.csv`` (columns shots, seed, image_id,
prediction, confidence; rows sorted by k, seed, image_id) named by the entry's
``predictions`` field (relative to the JSON) with its ``predictions_sha256``.

The default leaderboard folder is ``$WEB2SKY_LEADERBOARD`` or
``$WEB2SKY_HOME/leaderboard``; the repository's committed leaderboard is the
``leaderboard/`` folder at its root (pass it with ``--leaderboard leaderboard``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import atomic_path, write_json
from web2sky_bench.paths import PACKAGE_DIR, home

SCHEMA_VERSION = 1
SCHEMA_PATH = PACKAGE_DIR / "evaluate" / "schema" / "entry.schema.json"
PREDICTION_COLUMNS = ("shots", "seed", "image_id", "prediction", "confidence")
TRACKED_PACKAGES = ("web2sky-bench", "torch", "open_clip_torch", "numpy", "scikit-learn", "pandas")


def default_leaderboard_dir() -> Path:
    """``$WEB2SKY_LEADERBOARD`` or ``$WEB2SKY_HOME/leaderboard``."""
    env = os.environ.get("WEB2SKY_LEADERBOARD")
    return Path(env).expanduser() if env else home() / "leaderboard"


def slug(text: str, limit: int = 48) -> str:
    """A lowercase file-name-safe form of ``text`` (``[a-z0-9._-]``)."""
    out = re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-._")
    return (out or "x")[:limit].rstrip("-._") or "x"


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """The entry JSON Schema (``web2sky_bench/evaluate/schema/entry.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_entry(entry: Any, source: str = "entry") -> None:
    """Raise :class:`Web2SkyError` listing every schema violation of ``entry``."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker())
    problems = sorted(validator.iter_errors(entry), key=lambda e: list(map(str, e.absolute_path)))
    if problems:
        lines = [f"  - {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in problems[:20]]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise Web2SkyError(f"invalid leaderboard entry {source}: {len(problems)} problem(s)\n" + "\n".join(lines) + more)


def environment_info() -> dict[str, Any]:
    """Python, platform and versions of the packages that shape the numbers."""
    packages = {}
    for name in TRACKED_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": packages}


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout this package runs from (``+dirty`` when modified), or None.

    Read once per process: the code a long run imported, not later commits."""
    repo = PACKAGE_DIR.parent
    if not (repo / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def aggregate(runs: list[dict[str, Any]], classes: Iterable[str]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; 0 for one seed) of the headline metrics, mean per-class accuracy."""
    def mean_std(key: str) -> dict[str, float]:
        values = np.array([r[key] for r in runs], dtype=float)
        return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}

    per_class = {}
    for c in classes:
        values = [r["per_class_acc"][c] for r in runs if c in r["per_class_acc"]]
        if values:
            per_class[c] = float(np.mean(values))
    return {
        "aggregate": {"top1": mean_std("top1"), "mean_per_class_acc": mean_std("mean_per_class_acc"),
                      "macro_f1": mean_std("macro_f1"), "n_seeds": len(runs)},
        "per_class_acc": per_class,
    }


def predictions_csv(frame: pd.DataFrame) -> bytes:
    """Canonical CSV bytes of a predictions table (sorted, fixed float format)."""
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise Web2SkyError(f"predictions table lacks column(s) {', '.join(missing)}")
    out = frame[list(PREDICTION_COLUMNS)].copy()
    out["shots"] = out["shots"].astype(str)
    out["_k"] = out["shots"].map(lambda s: 10**9 if s == "all" else int(s))
    out = out.sort_values(["_k", "seed", "image_id"], kind="mergesort").drop(columns="_k")
    buf = io.StringIO()
    out.to_csv(buf, index=False, float_format="%.6f", lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def make_entry_id(model: Mapping[str, Any], protocol: Mapping[str, Any], predictions_sha256: str | None = None) -> str:
    """``<model>-<backbone>-<hash>``: the hash covers model, config and protocol (and, for
    external entries, the predictions), so rerunning one config replaces its entry."""
    key = {"model": {k: model.get(k) for k in ("name", "backbone", "pretrained", "config", "external")},
           "shots": list(protocol["shots"]), "seeds": list(protocol["seeds"])}
    if model.get("external"):
        key["predictions"] = predictions_sha256
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    prefix = "ext-" if model.get("external") else ""
    return f"{prefix}{slug(model['name'], 40)}-{slug(model.get('backbone') or 'none', 24)}-{digest}"


def build_entry(
    *,
    benchmark: Mapping[str, str],
    track: str,
    protocol: Mapping[str, Any],
    model: Mapping[str, Any],
    classes: list[str],
    runs_by_k: Mapping[str, list[dict[str, Any]]],
    predictions: pd.DataFrame,
    total_runtime_s: float | None,
    device: str | None,
) -> tuple[dict[str, Any], bytes]:
    """Assemble and validate an entry; returns it with its canonical predictions CSV bytes."""
    csv_bytes = predictions_csv(predictions)
    pred_sha = hashlib.sha256(csv_bytes).hexdigest()
    model = {"description": "", **model}
    entry_id = make_entry_id(model, protocol, pred_sha)
    results = {str(k): {"runs": sorted(runs, key=lambda r: r["seed"]), **aggregate(runs, classes)}
               for k, runs in runs_by_k.items()}
    entry = {
        "schema_version": SCHEMA_VERSION,
        "entry_id": entry_id,
        "benchmark": dict(benchmark),
        "track": track,
        "protocol": dict(protocol),
        "model": model,
        "classes": list(classes),
        "results": results,
        "runtime": {"total_s": None if total_runtime_s is None else round(float(total_runtime_s), 3), "device": device},
        "environment": environment_info(),
        "git_commit": git_commit(),
        "timestamp": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "predictions": f"{entry_id}.predictions.csv",
        "predictions_sha256": pred_sha,
        "predictions_rows": int(len(predictions)),
    }
    validate_entry(entry, entry_id)
    return entry, csv_bytes


def entry_path(leaderboard_dir: str | os.PathLike[str], entry: Mapping[str, Any]) -> Path:
    """``<leaderboard>/<benchmark>/<track>/entries/<entry_id>.json``."""
    return Path(leaderboard_dir) / entry["benchmark"]["name"] / entry["track"] / "entries" / f"{entry['entry_id']}.json"


def write_entry(leaderboard_dir: str | os.PathLike[str], entry: dict[str, Any], csv_bytes: bytes) -> Path:
    """Write the predictions CSV, then the entry JSON (both atomically); returns the JSON path."""
    validate_entry(entry, entry.get("entry_id", "entry"))
    if hashlib.sha256(csv_bytes).hexdigest() != entry["predictions_sha256"]:
        raise Web2SkyError("predictions bytes do not match the entry's predictions sha256")
    path = entry_path(leaderboard_dir, entry)
    with atomic_path(path.parent / entry["predictions"]) as tmp:
        tmp.write_bytes(csv_bytes)
    write_json(path, entry)
    return path


def load_entry(path: str | os.PathLike[str], check_predictions: bool = True) -> dict[str, Any]:
    """Read one entry, validate it against the schema, its location and its predictions file."""
    path = Path(path)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Web2SkyError(f"cannot read leaderboard entry {path}: {exc}") from exc
    validate_entry(entry, str(path))
    if path.stem != entry["entry_id"] or path.parent.name != "entries" or path.parent.parent.name != entry["track"] \
            or path.parent.parent.parent.name != entry["benchmark"]["name"]:
        raise Web2SkyError(
            f"{path}: entry {entry['entry_id']!r} of {entry['benchmark']['name']}/{entry['track']} must live at "
            f"<leaderboard>/{entry['benchmark']['name']}/{entry['track']}/entries/{entry['entry_id']}.json"
        )
    if check_predictions:
        pred = path.parent / entry["predictions"]
        if not pred.is_file():
            raise Web2SkyError(f"{path}: predictions file {pred.name} is missing")
        got = hashlib.sha256(pred.read_bytes()).hexdigest()
        if got != entry["predictions_sha256"]:
            raise Web2SkyError(f"{path}: predictions file {pred.name} has sha256 {got}, the entry records "
                               f"{entry['predictions_sha256']}")
    return entry


def entry_files(leaderboard_dir: str | os.PathLike[str]) -> list[Path]:
    """Every ``*/*/entries/*.json`` under the leaderboard folder, sorted."""
    return sorted(Path(leaderboard_dir).glob("*/*/entries/*.json"))


def load_entries(leaderboard_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Load and validate every entry of a leaderboard folder (errors name each bad file)."""
    entries, problems = [], []
    for path in entry_files(leaderboard_dir):
        try:
            entries.append(load_entry(path))
        except Web2SkyError as exc:
            problems.append(str(exc))
    if problems:
        raise Web2SkyError(f"{len(problems)} invalid leaderboard entr{'y' if len(problems) == 1 else 'ies'}:\n"
                           + "\n".join(problems))
    return entries


def entries_digest(entries: list[dict[str, Any]]) -> str:
    """A sha256 over the entries' canonical JSON (order-independent): the render's freshness key."""
    blobs = sorted(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in entries)
    return hashlib.sha256("\n".join(blobs).encode("utf-8")).hexdigest()

