"""External submissions: validate a predictions CSV, score it on test labels, make an entry.

Accepted formats (UTF-8 CSV, one row per aerial test image of the track):

* ``image_id,category``: the predicted category id per image;
* ``image_id,<class 1>,<class 2>,...``: one probability column per class of the
  track (every class, no other columns), non-negative, rows summing to 1.

Optional ``shots`` and ``seed`` columns put several runs (one full set of test
rows per (k, seed)) into one entry.

Anything else is rejected with a message saying what to fix.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.evaluate import protocol as P
from web2sky_bench.evaluate.entries import build_entry
from web2sky_bench.manifest import read_manifest

SUM_TOLERANCE = 1e-3
SHOWN = 5


def _examples(values) -> str:
    values = sorted(map(str, values))
    more = f" (and {len(values) - SHOWN} more)" if len(values) > SHOWN else ""
    return ", ".join(values[:SHOWN]) + more


def read_csv_text(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a submission as strings; empty files and non-UTF-8 bytes are errors."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise Web2SkyError(f"cannot read predictions {path}: {exc.strerror}") from exc
    if not raw.strip():
        raise Web2SkyError(f"predictions file {path} is empty; expected a CSV with a header "
                           "(image_id,category or image_id,<one column per class>)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Web2SkyError(
            f"predictions file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 CSV"
        ) from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.ParserError as exc:
        raise Web2SkyError(f"predictions file {path} is not valid CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise Web2SkyError(f"predictions file {path} is empty: it has a header but no rows")
    if "image_id" not in frame.columns:
        raise Web2SkyError(f"predictions file {path} has no image_id column (columns: {_examples(frame.columns)})")
    frame["image_id"] = frame["image_id"].str.strip()
    return frame


def validate_predictions(frame: pd.DataFrame, full: pd.DataFrame, track: str, source: str = "predictions") -> pd.DataFrame:
    """Check a submission against the track's aerial test set; returns
    ``image_id, prediction, confidence`` rows in test order. ``full`` is the whole manifest."""
    classes = P.track_classes(full, track)
    test = P.test_rows(full, track)
    want = set(test["image_id"])
    ids = frame["image_id"].tolist()
    dups = frame.loc[frame["image_id"].duplicated(), "image_id"].unique()
    if len(dups):
        raise Web2SkyError(f"{source}: {len(dups)} duplicate image_id(s): {_examples(dups)}; give one row per image")
    got = set(ids)
    for other in P.TRACKS:
        if other == track:
            continue
        try:
            other_ids = set(P.test_rows(full, other)["image_id"])
        except Web2SkyError:
            continue
        columns_match = set(frame.columns) - {"image_id"} == set(P.track_classes(full, other))
        if (got == other_ids or columns_match) and got != want:
            raise Web2SkyError(f"{source}: these are predictions for track {other!r}, not {track!r} "
                               f"(they cover its aerial test images / classes); pass --track {other}")
    missing, extra = want - got, got - want
    if missing:
        raise Web2SkyError(f"{source}: {len(missing)} aerial test image_id(s) of track {track} missing: "
                           f"{_examples(missing)}; predict every test image")
    if extra:
        raise Web2SkyError(f"{source}: {len(extra)} image_id(s) not in the aerial test set of track {track}: "
                           f"{_examples(extra)}")
    frame = frame.set_index("image_id").loc[test["image_id"]]
    if "category" in frame.columns:
        pred = frame["category"].str.strip()
        unknown = set(pred) - set(classes)
        if unknown:
            raise Web2SkyError(f"{source}: unknown categor{'y' if len(unknown) == 1 else 'ies'} for track {track}: "
                               f"{_examples(unknown)}; known: {_examples(classes)}")
        return pd.DataFrame({"image_id": test["image_id"].tolist(), "prediction": pred.tolist(), "confidence": np.nan})
    columns = list(frame.columns)
    unknown = set(columns) - set(classes)
    if unknown:
        raise Web2SkyError(f"{source}: unknown categor{'y' if len(unknown) == 1 else 'ies'} (columns) for track "
                           f"{track}: {_examples(unknown)}; expected image_id,category or image_id plus one "
                           f"probability column per class ({_examples(classes)})")
    absent = set(classes) - set(columns)
    if absent:
        raise Web2SkyError(f"{source}: probability column(s) missing for class(es) {_examples(absent)}")
    values = frame[classes].apply(lambda col: pd.to_numeric(col.str.strip().replace("", "nan"), errors="coerce"))
    probs = values.to_numpy(dtype=np.float64)
    bad = values.index[np.isnan(probs).any(axis=1)]
    if len(bad):
        raise Web2SkyError(f"{source}: NaN, empty or non-numeric probabilities for image_id(s) {_examples(bad)}")
    bad = values.index[(probs < 0).any(axis=1)]
    if len(bad):
        raise Web2SkyError(f"{source}: negative probabilities for image_id(s) {_examples(bad)}")
    sums = probs.sum(axis=1)
    bad = values.index[np.abs(sums - 1) > SUM_TOLERANCE]
    if len(bad):
        raise Web2SkyError(f"{source}: probabilities of image_id(s) {_examples(bad)} do not sum to 1 "
                           f"(within {SUM_TOLERANCE}; e.g. {sums[np.abs(sums - 1) > SUM_TOLERANCE][0]:.4f})")
    return pd.DataFrame({"image_id": test["image_id"].tolist(),
                         "prediction": [classes[i] for i in probs.argmax(1)], "confidence": probs.max(1)})


def split_runs(frame: pd.DataFrame, shots: str | int | None, seed: int | None,
               source: str) -> list[tuple[str, int, pd.DataFrame]]:
    """(k, seed, rows) per run: from ``shots``/``seed`` columns when the file has both,
    else one run with the given options (defaults k=all, seed 1)."""
    from web2sky_bench.curate.fewshot import parse_k

    cols = {"shots", "seed"} & set(frame.columns)
    if not cols:
        return [(str(parse_k("all" if shots is None else shots) or "all"), 1 if seed is None else int(seed), frame)]
    if cols != {"shots", "seed"}:
        raise Web2SkyError(f"{source}: give both a shots and a seed column (one run per pair), or neither")
    if shots is not None or seed is not None:
        raise Web2SkyError(f"{source}: the file has shots/seed columns; do not also pass --shots/--seed")
    runs = []
    for (k, s), rows in frame.groupby(["shots", "seed"], sort=True):
        try:
            k_norm, s_int = str(parse_k(str(k).strip()) or "all"), int(str(s).strip())
        except (ValueError, Web2SkyError):
            raise Web2SkyError(f"{source}: bad shots/seed value ({k!r}, {s!r}); shots is a positive "
                               "integer or 'all', seed an integer") from None
        runs.append((k_norm, s_int, rows.drop(columns=["shots", "seed"]).reset_index(drop=True)))
    return runs


def submit(
    predictions: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    track: str,
    model_name: str,
    shots: str | int | None = None,
    seed: int | None = None,
    description: str = "",
    url: str | None = None,
    backbone: str | None = None,
    root: str | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Validate and score a predictions file; returns an external entry and its predictions CSV.

    One file is one run (``shots``/``seed``, default k=all, seed 1) or, with
    ``shots`` and ``seed`` columns, several runs that become one entry.
    """
    P.check_track(track)
    if not str(model_name).strip():
        raise Web2SkyError("--model-name must not be empty")
    dataset_dir = P.resolve_dataset(dataset, root, quiet=True)
    full = read_manifest(dataset_dir)
    frame = read_csv_text(predictions)
    classes = P.track_classes(full, track)
    truth = P.test_rows(full, track)["category"].tolist()
    runs_by_k: dict[str, list[dict[str, Any]]] = {}
    preds = []
    for k, s, rows in split_runs(frame, shots, seed, str(predictions)):
        pred = validate_predictions(rows, full, track, source=f"{predictions} (k={k}, seed={s})")
        runs_by_k.setdefault(k, []).append(
            {"seed": s, "n_train_aerial": None, "val_top1": None, "runtime_s": None,
             **P.score_run(dataset_dir, truth, pred["prediction"].tolist(), classes, s)})
        preds.append(pred.assign(shots=k, seed=s))
    protocol = {"name": P.PROTOCOL, "shots": sorted(runs_by_k, key=lambda k: 10**9 if k == "all" else int(k)),
                "seeds": sorted({r["seed"] for runs in runs_by_k.values() for r in runs}),
                "selection": "external submission: the submitter declares val-only selection",
                "bootstrap_resamples": P.BOOTSTRAP_RESAMPLES}
    model = {"name": str(model_name).strip(), "backbone": backbone, "pretrained": None, "config": {},
             "external": True, "description": description, "url": url}
    return build_entry(benchmark=P.benchmark_info(dataset_dir), track=track, protocol=protocol, model=model,
                       classes=classes, runs_by_k=runs_by_k, predictions=pd.concat(preds),
                       total_runtime_s=None, device=None)
