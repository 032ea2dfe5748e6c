"""Image features through a frozen backbone, with a content-addressed cache.

Each image is encoded once per backbone: the cache key is the image's sha256
(from the manifest) plus :attr:`Backbone.key` (model, weights identity,
preprocessing). The cache lives under ``paths.cache_dir("features")``, one
folder per backbone key holding append-only ``.npz`` shards (sha256 -> vector),
each written atomically; many small shards are merged once they pile up.
Decoding and preprocessing run in DataLoader workers while the encoder works
on the previous batch.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import atomic_open
from web2sky_bench.paths import cache_dir

FLUSH_EVERY = 4096
"""Write a cache shard after this many newly encoded images (bounds lost work)."""
MAX_SHARDS = 32
"""Merge a backbone's shards into one when it holds more than this many."""


class FeatureCache:
    """sha256 -> feature vector store for one backbone key (append-only shards)."""

    def __init__(self, key: str, root: str | os.PathLike[str] | None = None) -> None:
        self.key = key
        self.folder = Path(root or cache_dir("features")) / hashlib.sha256(key.encode()).hexdigest()[:32]
        key_file = self.folder / "key.txt"
        if key_file.is_file():
            if key_file.read_text(encoding="utf-8") != key:
                raise Web2SkyError(f"feature cache {self.folder} belongs to another backbone; delete the folder")
        else:
            with atomic_open(key_file, "w", encoding="utf-8") as fh:
                fh.write(key)

    def shards(self) -> list[Path]:
        """The shard files, oldest first."""
        return sorted(self.folder.glob("shard-*.npz"))

    def load(self, wanted: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Cached vectors, restricted to ``wanted`` sha256s when given."""
        wanted_set = set(wanted) if wanted is not None else None
        out: dict[str, np.ndarray] = {}
        for shard in self.shards():
            try:
                with np.load(shard, allow_pickle=False) as data:
                    shas, feats = data["sha256"], data["features"]
            except FileNotFoundError:  # merged away by a concurrent run
                continue
            except (OSError, ValueError, KeyError) as exc:
                raise Web2SkyError(f"feature cache shard {shard} is unreadable ({exc}); delete it") from exc
            for i, sha in enumerate(shas.tolist()):
                if wanted_set is None or sha in wanted_set:
                    out[sha] = feats[i]
        return out

    def add(self, shas: list[str], feats: np.ndarray) -> Path | None:
        """Write one new shard with these vectors (atomic); returns its path."""
        if not shas:
            return None
        name = hashlib.sha256("".join(shas).encode()).hexdigest()[:16]
        path = self.folder / f"shard-{os.getpid()}-{time.time_ns()}-{name}.npz"
        with atomic_open(path, "wb") as fh:
            np.savez(fh, sha256=np.asarray(shas, dtype="U64"), features=np.asarray(feats, dtype=np.float32))
        return path

    def compact(self, max_shards: int | None = None) -> None:
        """Merge all shards into one when there are more than ``max_shards`` (default MAX_SHARDS)."""
        shards = self.shards()
        if len(shards) <= (MAX_SHARDS if max_shards is None else max_shards):
            return
        merged = self.load()
        shas = sorted(merged)
        path = self.folder / f"shard-0-{time.time_ns()}-merged.npz"
        with atomic_open(path, "wb") as fh:
            np.savez(fh, sha256=np.asarray(shas, dtype="U64"),
                     features=np.stack([merged[s] for s in shas]).astype(np.float32))
        for shard in shards:
            shard.unlink(missing_ok=True)


class _ImageFiles(Dataset):
    """Decode + preprocess images by path; errors travel back as strings."""

    def __init__(self, paths: list[Path], preprocess) -> None:
        self.paths = paths
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            with Image.open(self.paths[i]) as im:
                return self.preprocess(im.convert("RGB")), ""
        except Exception as exc:  # noqa: BLE001 -- any decode failure is reported in the main process
            return None, f"{self.paths[i]}: {type(exc).__name__}: {exc}"


def _collate(items):
    errors = [err for _, err in items if err]
    if errors:
        return None, errors
    return torch.stack([x for x, _ in items]), []


def preprocess_batch(batch: pd.DataFrame, preprocess) -> pd.DataFrame:
    """Per-batch decode + preprocess (as the DataLoader's workers do): ``path`` -> float32 ``pixels`` bytes.

    A row that cannot be decoded gets empty ``pixels`` and its message in ``error``.
    """
    files = _ImageFiles([Path(p) for p in batch["path"]], preprocess)
    pixels, shapes, errors = [], [], []
    for i in range(len(files)):
        tensor, error = files[i]
        array = tensor.numpy().astype(np.float32, copy=False) if tensor is not None else np.zeros(0, np.float32)
        pixels.append(array.tobytes())
        shapes.append(list(array.shape))
        errors.append(error)
    return pd.DataFrame({"pixels": pixels, "shape": shapes, "error": errors})


class EncodeBatch:
    """Per-batch encoder (a Ray actor): ``pixels`` -> float32 ``feature`` bytes via ``Backbone.encode_images``.

    Runs on CUDA when the worker was given a GPU, else on CPU. Rows with a
    decode ``error`` get an empty feature.
    """

    def __init__(self, backbone) -> None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        backbone.model.to(device)
        backbone.device = device
        self.backbone = backbone

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        good = [i for i, e in enumerate(batch["error"]) if not e]
        out = [b""] * len(batch)
        if good:
            pixels = torch.stack([
                torch.from_numpy(np.frombuffer(batch["pixels"].iloc[i], np.float32).reshape(
                    [int(x) for x in batch["shape"].iloc[i]]).copy())
                for i in good
            ])
            feats = self.backbone.encode_images(pixels).numpy().astype(np.float32, copy=False)
            for i, f in zip(good, feats):
                out[i] = f.tobytes()
        return pd.DataFrame({"feature": out, "error": batch["error"].tolist()})


def encode_on_executor(executor, backbone, paths: list[Path], batch_size: int = 64, quiet: bool = False,
                       on_batch=None) -> np.ndarray:
    """Encode image files on an executor (Ray): decode tasks, then encoder actors (one GPU each when the
    cluster has GPUs, else one CPU actor). Same batches and order as :func:`encode_paths`."""
    import copy

    from web2sky_bench.executors import Stage

    portable = copy.copy(backbone)  # no tokenizer, CPU weights: what the actors need
    portable.tokenizer = None
    if str(backbone.device) != "cpu":
        portable.model = copy.deepcopy(backbone.model).cpu()
    gpus = executor.cluster_gpus()
    stages = [
        Stage(preprocess_batch, {"preprocess": backbone.preprocess}),
        Stage(EncodeBatch, ctor_kwargs={"backbone": portable}, num_gpus=1 if gpus else 0,
              concurrency=max(1, gpus)),
    ]
    out: list[np.ndarray] = []
    done = 0
    frame = pd.DataFrame({"path": [str(p) for p in paths]})
    for batch in executor.iter_batches(stages, frame, batch_size, desc="features", quiet=quiet):
        errors = [e for e in batch["error"] if e]
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise Web2SkyError(f"cannot decode image {errors[0]}{more}; run `web2sky-bench clean` or fix the file")
        feats = np.stack([np.frombuffer(f, np.float32) for f in batch["feature"]])
        out.append(feats)
        if on_batch is not None:
            on_batch(done, feats)
        done += len(feats)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def encode_paths(
    backbone,
    paths: list[Path],
    batch_size: int = 64,
    workers: int = 2,
    quiet: bool = False,
    on_batch=None,
    executor=None,
) -> np.ndarray:
    """Encode image files in order: (n, d) float32, L2-normalised.

    ``on_batch(start, feats)`` is called after each batch (used to flush the cache).
    A non-local ``executor`` (Ray) decodes in its tasks and encodes in actors
    (see :func:`encode_on_executor`); otherwise a DataLoader with ``workers``.
    A job of one batch is loaded in-process (starting workers would cost more).
    """
    if executor is not None and executor.name != "local":
        return encode_on_executor(executor, backbone, paths, batch_size, quiet, on_batch)
    if len(paths) <= batch_size:
        workers = 0
    loader = DataLoader(
        _ImageFiles(paths, backbone.preprocess),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=str(backbone.device).startswith("cuda"),
        prefetch_factor=4 if workers > 0 else None,
    )
    out: list[np.ndarray] = []
    done = 0
    threads = torch.get_num_threads()
    if workers > 0 and not str(backbone.device).startswith("cuda"):
        # CPU encoder: leave the loader workers their cores instead of oversubscribing
        torch.set_num_threads(max(1, min(threads, (os.cpu_count() or 1) - workers)))
    try:
        with tqdm(total=len(paths), unit="img", desc="features", disable=quiet) as bar:
            for batch, errors in loader:
                if errors:
                    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
                    raise Web2SkyError(f"cannot decode image {errors[0]}{more}; run `web2sky-bench clean` "
                                       f"or fix the file")
                feats = backbone.encode_images(batch).numpy()
                out.append(feats)
                if on_batch is not None:
                    on_batch(done, feats)
                done += len(feats)
                bar.update(len(feats))
    finally:
        torch.set_num_threads(threads)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def image_features(
    backbone,
    dataset_dir: str | os.PathLike[str],
    frame: pd.DataFrame,
    batch_size: int = 64,
    workers: int = 2,
    quiet: bool = False,
    executor=None,
) -> torch.Tensor:
    """Features of ``frame``'s images: (len(frame), d) float32, L2-normalised, rows aligned.

    Images already in the cache for ``backbone.key`` (by manifest sha256) are not
    decoded or encoded again; new ones are encoded in batches of ``batch_size``
    with ``workers`` loader processes and added to the cache as they finish.
    ``executor="ray"``-style executors (:mod:`web2sky_bench.executors`) encode
    on a Ray cluster instead; the cache is written here either way.
    """
    if len(frame) == 0:
        return torch.zeros(0, backbone.dim, dtype=torch.float32)
    for col in ("sha256", "path"):
        if col not in frame.columns:
            raise Web2SkyError(f"image_features needs manifest rows with a {col!r} column")
    shas = frame["sha256"].astype(str).tolist()
    cache = FeatureCache(backbone.key)
    known = cache.load(set(shas))

    missing: dict[str, Path] = {}
    root = Path(dataset_dir)
    for sha, rel in zip(shas, frame["path"].astype(str).tolist()):
        if sha not in known and sha not in missing:
            missing[sha] = root / rel
    if missing:
        todo = list(missing)
        pending: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            if pending:
                start = pending[0][0]
                feats = np.concatenate([f for _, f in pending])
                cache.add(todo[start : start + len(feats)], feats)
                pending.clear()

        def on_batch(start: int, feats: np.ndarray) -> None:
            pending.append((start, feats))
            if sum(len(f) for _, f in pending) >= FLUSH_EVERY:
                flush()

        new = encode_paths(backbone, list(missing.values()), batch_size, workers, quiet, on_batch, executor)
        flush()
        known.update(zip(todo, new))
        cache.compact()
    return torch.from_numpy(np.stack([known[s] for s in shas]).astype(np.float32, copy=False))
