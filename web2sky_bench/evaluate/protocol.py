"""The web2sky-v1 protocol: which data a model sees, and how it is scored.

* Tracks ``aircraft``, ``ship`` (one super-category) and ``all``.
* Train on every web image of the track plus k aerial train images per class
  (k in 1, 2, 4, 8, 16, all; subsets from :func:`curate.fewshot.few_shot_ids`),
  seeds 1, 2, 3; report mean and std over seeds.
* Hyperparameters are selected on aerial **val** only (the model receives it in
  :class:`TaskData`); aerial **test** is encoded separately, never reaches
  ``fit``, and ``predict`` is called on it exactly once per run.
* Metrics (:mod:`evaluate.metrics`) on aerial test; one leaderboard entry per
  model config with every (k, seed) run and the aggregate.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.curate.fewshot import few_shot_ids, parse_k
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.evaluate import metrics, runcache
from web2sky_bench.manifest import file_sha256, read_card, read_manifest
from web2sky_bench.models.base import Model, Split, TaskData

PROTOCOL = "web2sky-v1"
TRACKS = ("aircraft", "ship", "all")
SHOTS = ("1", "2", "4", "8", "16", "all")
SEEDS = (1, 2, 3)
SELECTION = "hyperparameters selected on aerial val only; aerial test scored once per run"
BOOTSTRAP_RESAMPLES = 1000
DEFAULT_DATASET = "web2sky-synth-mini"
#: CPU threads for fit/predict. Models train small heads on cached features, where
#: one thread avoids oversubscription: on the 2-core build machine under load a CCA
#: fit took 9 s with 1 thread and 114 s with 2.
TRAIN_THREADS = 1


def resolve_dataset(name_or_dir: str | os.PathLike[str] | None = None, root: str | None = None,
                    quiet: bool = False) -> Path:
    """A dataset folder from a path or a name under the datasets root.

    ``web2sky-synth-<size>`` is generated on first use; other names must have
    been downloaded or imported before.
    """
    from web2sky_bench.paths import dataset_dir

    value = str(name_or_dir or DEFAULT_DATASET)
    as_path = Path(value).expanduser()
    if (as_path / "manifest.parquet").is_file():
        return as_path
    folder = dataset_dir(value, root)
    if (folder / "manifest.parquet").is_file():
        return folder
    synth = re.fullmatch(r"web2sky-synth-(\w+)", value)
    if synth:
        from web2sky_bench.synth import ensure_dataset

        return Path(ensure_dataset(size=synth.group(1), root=root, quiet=quiet))
    if as_path.exists():
        raise Web2SkyError(f"{as_path} is not a dataset folder (no manifest.parquet)")
    raise Web2SkyError(
        f"dataset {value!r} not found under {folder.parent}; get it with `web2sky-bench download {value}` "
        "or pass a dataset folder"
    )


def benchmark_info(dataset_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Name, version and manifest sha256 of a dataset folder (from its card and manifest)."""
    dataset_dir = Path(dataset_dir)
    try:
        card = read_card(dataset_dir)
    except Web2SkyError:
        card = {}
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(card.get("name") or dataset_dir.name)).strip("-._") or "dataset"
    return {"name": name, "version": str(card.get("version") or "unversioned"),
            "manifest_sha256": file_sha256(dataset_dir / "manifest.parquet")}


def check_track(track: str) -> str:
    """``track`` if it is one of :data:`TRACKS`, else an actionable error."""
    if track not in TRACKS:
        raise Web2SkyError(f"unknown track {track!r}; choose one of {', '.join(TRACKS)}")
    return track


def track_frame(frame: pd.DataFrame, track: str) -> pd.DataFrame:
    """Rows of one track (all rows for ``all``)."""
    check_track(track)
    rows = frame if track == "all" else frame[frame["super_category"] == track]
    if rows.empty:
        have = ", ".join(sorted(frame["super_category"].unique()))
        raise Web2SkyError(f"the dataset has no {track} images (it has: {have}); choose another --track")
    return rows.reset_index(drop=True)


def track_classes(frame: pd.DataFrame, track: str) -> list[str]:
    """Sorted category ids of the track's aerial images: the label space of its runs."""
    rows = track_frame(frame, track)
    return sorted(rows.loc[rows["view"] == "aerial", "category"].unique().tolist())


def test_rows(frame: pd.DataFrame, track: str) -> pd.DataFrame:
    """The aerial test rows of a track, sorted by image_id."""
    rows = track_frame(frame, track)
    test = rows[(rows["view"] == "aerial") & (rows["split"] == "test")]
    if test.empty:
        raise Web2SkyError(f"the dataset has no aerial test images in track {track}; split it first "
                           "(`web2sky-bench split`)")
    return test.sort_values("image_id").reset_index(drop=True)


def class_groups(dataset_dir: str | os.PathLike[str], classes: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Super-category and family of each class, from the dataset's taxonomy."""
    tax = taxonomy_mod.for_dataset(dataset_dir)
    cats = {c: tax.get(c) for c in classes}
    return {c: v.super_category for c, v in cats.items()}, {c: v.family for c, v in cats.items()}


def score_run(dataset_dir: str | os.PathLike[str], truth: Sequence[str], pred: Sequence[str],
              classes: Sequence[str], seed: int, n_resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """Every protocol metric for one run (bootstrap seeded by the run's seed)."""
    super_of, family_of = class_groups(dataset_dir, classes)
    return metrics.score(np.asarray(truth), np.asarray(pred), classes, super_of, family_of,
                         bootstrap_seed=seed, n_resamples=n_resamples)


def _split(frame: pd.DataFrame, feats: dict[str, torch.Tensor], index: dict[str, int], labelled: bool = True) -> Split:
    ids = frame["image_id"].tolist()
    x = torch.stack([feats[i] for i in ids]) if ids else torch.zeros(0, next(iter(feats.values())).shape[0])
    y = torch.tensor([index[c] for c in frame["category"]], dtype=torch.int64) if labelled else None
    return Split(features=x, labels=y, image_ids=ids)


def encode(backbone, dataset_dir: str | os.PathLike[str], frame: pd.DataFrame, quiet: bool = True) -> dict[str, torch.Tensor]:
    """image_id -> backbone feature for every row (through the content-addressed cache)."""
    from web2sky_bench.models.features import image_features

    if frame.empty:
        return {}
    feats = image_features(backbone, dataset_dir, frame, quiet=quiet)
    return dict(zip(frame["image_id"].tolist(), feats))


def build_task_data(
    dataset_dir: str | os.PathLike[str],
    frame: pd.DataFrame,
    track: str,
    k: int | str | None,
    seed: int,
    backbone,
    features: dict[str, torch.Tensor] | None = None,
    quiet: bool = True,
) -> TaskData:
    """What a model may see for one (track, k, seed) run: web train, k-shot aerial train, aerial val.

    Aerial test rows never enter the result. ``features`` (image_id -> vector)
    skips encoding when the caller already has them.
    """
    k = parse_k(k) if isinstance(k, str) else k
    rows = track_frame(frame, track)
    classes = track_classes(frame, track)
    index = {c: i for i, c in enumerate(classes)}
    web = rows[(rows["view"] == "web") & rows["category"].isin(index)].sort_values("image_id")
    shot_ids = set(few_shot_ids(rows, k, seed, view="aerial", split="train"))
    aerial_train = rows[rows["image_id"].isin(shot_ids)].sort_values("image_id")
    aerial_val = rows[(rows["view"] == "aerial") & (rows["split"] == "val")].sort_values("image_id")
    if aerial_train.empty:
        raise Web2SkyError(f"the dataset has no aerial train images in track {track}")
    needed = pd.concat([web, aerial_train, aerial_val])
    if features is None:
        features = encode(backbone, dataset_dir, needed, quiet=quiet)
    from web2sky_bench.models.concepts import load_concepts

    try:
        concepts = load_concepts(classes, dataset_dir=dataset_dir)
    except Web2SkyError:  # models that need concepts say so; the others run without
        concepts = {}
    tax = taxonomy_mod.for_dataset(dataset_dir)
    return TaskData(
        classes=classes,
        class_names=[tax.get(c).display_name for c in classes],
        concepts=concepts,
        web_train=_split(web, features, index),
        aerial_train=_split(aerial_train, features, index),
        aerial_val=_split(aerial_val, features, index),
        encode_text=backbone.encode_text,
        device=str(getattr(backbone, "device", "cpu")),
        extra={"track": track, "k": "all" if k is None else k, "seed": seed, "dataset_dir": str(dataset_dir)},
    )


def describe_weights(backbone) -> str:
    """The backbone's pretrained tag, or for a checkpoint file its name and content hash
    (never a machine-specific absolute path)."""
    pretrained = str(backbone.pretrained)
    if os.path.isfile(pretrained):
        weights_id = str(getattr(backbone, "key", "")).split("|")
        return f"{Path(pretrained).name} ({weights_id[1][:19]})" if len(weights_id) > 1 else Path(pretrained).name
    return pretrained


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op CPU threads (None: leave torch's setting)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for one run."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _check_probs(probs: np.ndarray, n: int, n_classes: int, model_name: str) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (n, n_classes):
        raise Web2SkyError(f"model {model_name!r} returned probabilities of shape {probs.shape}, "
                           f"expected {(n, n_classes)}")
    if not np.isfinite(probs).all():
        raise Web2SkyError(f"model {model_name!r} returned NaN or infinite probabilities")
    return probs


@dataclass
class _RunContext:
    """What every (k, seed) run shares; inherited by forked workers."""

    dataset_dir: Path
    frame: pd.DataFrame
    track: str
    backbone: Any
    features: dict[str, torch.Tensor]
    test: Split
    model_cls: type[Model]
    config: dict[str, Any] | None
    threads: int | None


_CONTEXT: _RunContext | None = None


def _one_run(task: tuple[str, int]) -> tuple[str, int, np.ndarray, float | None, int, float]:
    """Fit a fresh model for one (k, seed), select on val, predict test once (no labels)."""
    k, seed = task
    c = _CONTEXT
    assert c is not None, "run context not set"
    start = time.perf_counter()
    data = build_task_data(c.dataset_dir, c.frame, c.track, k, seed, c.backbone, features=c.features)
    with torch_threads(c.threads):
        seed_everything(seed)
        m = c.model_cls(c.config, seed=seed)
        m.fit(data)
        val_top1 = None
        if len(data.aerial_val):
            vp = _check_probs(m.predict(data.aerial_val), len(data.aerial_val), len(data.classes), c.model_cls.name)
            val_top1 = metrics.accuracy(data.aerial_val.labels.numpy(), vp.argmax(1))
        probs = np.asarray(m.predict(c.test))
    return k, seed, probs, val_top1, len(data.aerial_train), round(time.perf_counter() - start, 3)


def run_protocol(
    model: str | type[Model],
    dataset: str | os.PathLike[str] | None = None,
    track: str = "all",
    shots: Sequence[str | int] = SHOTS,
    seeds: Sequence[int] = SEEDS,
    backbone: str | None = None,
    pretrained: str | None = None,
    config: dict[str, Any] | None = None,
    device: str = "auto",
    root: str | None = None,
    quiet: bool = False,
    on_run: Callable[[str, int, dict[str, Any]], None] | None = None,
    threads: int | None = TRAIN_THREADS,
    jobs: int = 1,
    cache: bool = True,
) -> tuple[dict[str, Any], bytes]:
    """Evaluate one model config under web2sky-v1; returns (entry, predictions CSV bytes).

    ``model``: a registry name or a :class:`Model` subclass. Images are encoded
    once (feature cache); for every k and seed the model is built fresh, fitted
    on :func:`build_task_data` and asked for test probabilities once.
    ``on_run(k, seed, run_metrics)`` is called after each run. ``threads``: torch
    CPU threads while models fit and predict (None keeps torch's default).
    ``jobs``: (k, seed) runs in parallel forked processes on CPU (results are
    identical to ``jobs=1``: every run seeds itself). ``cache``: reuse the output
    of an identical earlier run (:mod:`evaluate.runcache`; same code, config,
    features, k, seed), marked ``cached`` in the entry.
    """
    from tqdm.auto import tqdm

    from web2sky_bench.evaluate.entries import build_entry
    from web2sky_bench.models.backbones import load_backbone

    check_track(track)
    shots = [str(parse_k(s) or "all") for s in shots]
    seeds = [int(s) for s in seeds]
    if not shots or not seeds:
        raise Web2SkyError("give at least one k-shot and one seed")
    if isinstance(model, str):
        from web2sky_bench.models.registry import get_model

        model_cls = get_model(model)
    else:
        model_cls = model
    resolved_config = model_cls(config, seed=0).config  # rejects unknown options before expensive work
    dataset_dir = resolve_dataset(dataset, root, quiet=quiet)
    frame = read_manifest(dataset_dir)
    classes = track_classes(frame, track)
    test = test_rows(frame, track)
    rows = track_frame(frame, track)
    t0 = time.perf_counter()
    bb = load_backbone(backbone, pretrained, device=device, dataset_dir=dataset_dir)
    train_side = rows[(rows["split"] != "test") | (rows["view"] == "web")]
    features = encode(bb, dataset_dir, train_side, quiet=quiet)
    test_feats = encode(bb, dataset_dir, test, quiet=True)  # features only: test labels stay here
    test_split = Split(torch.stack([test_feats[i] for i in test["image_id"]]), None, test["image_id"].tolist())
    ctx = _RunContext(dataset_dir, frame, track, bb, features, test_split, model_cls, config, threads)
    tasks = [(k, seed) for k in shots for seed in seeds]
    bench = benchmark_info(dataset_dir)
    keys = {t: runcache.run_key(model_cls, resolved_config, track, t[0], t[1], bb.key, bench["manifest_sha256"],
                                threads) for t in tasks} if cache else {}
    done: dict[tuple[str, int], dict[str, Any]] = {}
    preds: dict[tuple[str, int], pd.DataFrame] = {}
    bar = tqdm(total=len(tasks), desc=f"{model_cls.name} {track}", unit="run", disable=quiet)

    def collect(k: str, seed: int, probs: np.ndarray, val_top1: float | None, n_train: int, runtime: float,
                cached: bool) -> None:
        probs = _check_probs(probs, len(test), len(classes), model_cls.name)
        if cache and not cached:
            runcache.save(keys[(k, seed)], probs, val_top1, n_train, runtime)
        pred = [classes[i] for i in probs.argmax(1)]
        run = {"seed": seed, "n_train_aerial": n_train, "val_top1": val_top1, "runtime_s": runtime,
               "cached": cached, **score_run(dataset_dir, test["category"].tolist(), pred, classes, seed)}
        done[(k, seed)] = run
        preds[(k, seed)] = pd.DataFrame({"shots": k, "seed": seed, "image_id": test["image_id"].tolist(),
                                         "prediction": pred, "confidence": probs.max(1)})
        bar.update(1)
        if on_run is not None:
            on_run(k, seed, run)

    todo = []
    for task in tasks:
        hit = runcache.load(keys[task]) if cache else None
        if hit is None:
            todo.append(task)
        else:
            collect(*task, *hit, cached=True)
    jobs = max(1, min(int(jobs), len(todo) or 1))
    if jobs > 1 and (str(bb.device).startswith("cuda") or "fork" not in mp.get_all_start_methods()):
        jobs = 1  # forked workers cannot share a CUDA context
    global _CONTEXT
    _CONTEXT = ctx
    try:
        if jobs == 1:
            for result in map(_one_run, todo):
                collect(*result, cached=False)
        else:
            with mp.get_context("fork").Pool(jobs) as pool:
                for result in pool.imap(_one_run, todo):
                    collect(*result, cached=False)
    finally:
        _CONTEXT = None
        bar.close()
    runs_by_k: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        runs_by_k.setdefault(task[0], []).append(done[task])
    protocol = {"name": PROTOCOL, "shots": shots, "seeds": seeds, "selection": SELECTION,
                "bootstrap_resamples": BOOTSTRAP_RESAMPLES}
    model_info = {"name": model_cls.name, "backbone": bb.name, "pretrained": describe_weights(bb),
                  "config": dict(resolved_config), "external": False, "description": model_cls.description}
    return build_entry(benchmark=bench, track=track, protocol=protocol, model=model_info,
                       classes=classes, runs_by_k=runs_by_k, predictions=pd.concat([preds[t] for t in tasks]),
                       total_runtime_s=time.perf_counter() - t0, device=str(bb.device))
