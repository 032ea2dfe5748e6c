"""Content-addressed cache of (k, seed) run outputs.

A run's output (test probabilities, val accuracy, aerial train count, runtime)
is a deterministic function of the model's code and config, the features
(backbone key + dataset manifest), the track, k, seed and the thread count.
The key hashes all of them, including the source of ``web2sky_bench/models``,
the protocol and the model's own module, and the torch and numpy versions, so
any change to the code or data reruns the model. Scores are always recomputed
from the cached probabilities. ``--no-cache`` bypasses it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from web2sky_bench.io.atomic import atomic_path
from web2sky_bench.paths import PACKAGE_DIR, cache_dir

CODE_FILES = ("models/*.py", "evaluate/protocol.py", "curate/fewshot.py")


@lru_cache(maxsize=8)
def _source_digest(extra_file: str | None) -> str:
    import numpy
    import torch

    h = hashlib.sha256(f"torch={torch.__version__};numpy={numpy.__version__}".encode())
    files = sorted({p for pattern in CODE_FILES for p in PACKAGE_DIR.glob(pattern)})
    if extra_file:
        files.append(Path(extra_file))
    for path in files:
        h.update(str(path.relative_to(PACKAGE_DIR) if path.is_relative_to(PACKAGE_DIR) else path.name).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def run_key(model_cls: type, config: dict[str, Any], track: str, k: str, seed: int, backbone_key: str,
            manifest_sha256: str, threads: int | None) -> str:
    """The cache key of one run."""
    try:
        module_file = inspect.getfile(model_cls)
    except (TypeError, OSError):
        module_file = None
    blob = json.dumps({"model": f"{model_cls.__module__}.{model_cls.__qualname__}", "config": config,
                       "track": track, "k": k, "seed": seed, "backbone": backbone_key,
                       "manifest": manifest_sha256, "threads": threads, "code": _source_digest(module_file)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _path(key: str) -> Path:
    return cache_dir("runs") / key[:2] / f"{key}.npz"


def load(key: str) -> tuple[np.ndarray, float | None, int, float] | None:
    """(probs, val_top1, n_train_aerial, runtime_s) of a cached run, or None."""
    path = _path(key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return z["probs"], meta["val_top1"], int(meta["n_train_aerial"]), float(meta["runtime_s"])
    except (OSError, ValueError, KeyError):  # unreadable entry: rerun
        return None


def save(key: str, probs: np.ndarray, val_top1: float | None, n_train_aerial: int, runtime_s: float) -> None:
    """Store one run's output atomically."""
    meta = json.dumps({"val_top1": val_top1, "n_train_aerial": n_train_aerial, "runtime_s": runtime_s})
    with atomic_path(_path(key)) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, probs=np.asarray(probs), meta=np.array(meta))
