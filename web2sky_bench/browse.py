"""Browse a dataset in FiftyOne: its splits, duplicates, cleaning flags and model mistakes.

:func:`build_dataset` turns a dataset folder's manifest into a persistent
FiftyOne dataset (one sample per image, keyed by ``image_id``) and refreshes it
incrementally: a stored ``content_hash`` per sample tells which rows changed, so
only new, changed and deleted rows touch the database. Splits are a field and
sample tags. :func:`attach_predictions` adds a model's per-image predictions as
a Classification field; :func:`save_views` stores the saved views (split x
view, ``leaks``, ``flagged``, ``dup-groups``, ``mistakes-<model>``), and
:func:`launch` serves the App.

FiftyOne is imported lazily inside the functions so that importing this module
stays cheap.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from web2sky_bench import manifest as manifest_mod
from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.paths import dataset_dir as named_dataset_dir

if TYPE_CHECKING:
    import fiftyone as fo

#: String-valued manifest columns copied onto each sample.
STRING_FIELDS = (
    "image_id", "view", "super_category", "family", "split", "source", "url", "license",
    "attribution", "sha256", "phash", "source_image",
)
INT_FIELDS = ("width", "height", "dup_group")
FLOAT_FIELDS = ("gsd_m",)
#: Splits that must never share a near-duplicate group.
EVAL_SPLITS = ("train", "val", "test")
VIEW_DESCRIPTION = "web2sky-bench"
INFO_KEY = "web2sky"


@dataclass
class BrowseResult:
    """What :func:`build_dataset` did."""

    name: str
    dataset: Any = field(repr=False)
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    models: list[str] = field(default_factory=list)
    views: list[str] = field(default_factory=list)


@dataclass
class Predictions:
    """One model's per-image predictions: label, optional confidence and logits."""

    model: str
    labels: dict[str, str]
    confidence: dict[str, float] = field(default_factory=dict)
    logits: dict[str, list[float]] = field(default_factory=dict)
    classes: list[str] | None = None
    source: str = ""


def resolve_dataset(dataset: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Path:
    """A dataset folder from a path or a dataset name under the datasets root."""
    path = Path(dataset).expanduser()
    if (path / manifest_mod.MANIFEST_FILE).is_file():
        return path.resolve()
    named = named_dataset_dir(str(dataset), root)
    if (named / manifest_mod.MANIFEST_FILE).is_file():
        return named.resolve()
    raise Web2SkyError(
        f"no dataset at {dataset!r}: neither {path} nor {named} holds a {manifest_mod.MANIFEST_FILE}; "
        "pass a dataset folder or a name listed by `web2sky-bench datasets`"
    )


def default_name(dataset_dir: str | os.PathLike[str]) -> str:
    """The FiftyOne dataset name: the card's ``name``, else the folder name."""
    dataset_dir = Path(dataset_dir)
    try:
        name = manifest_mod.read_card(dataset_dir).get("name")
    except Web2SkyError:
        name = None
    return str(name or dataset_dir.resolve().name)


def field_slug(model: str) -> str:
    """A FiftyOne-safe field suffix for a model name: ``'CCA/ViT-B'`` -> ``'cca_vit_b'``."""
    slug = re.sub(r"[^0-9a-z]+", "_", model.lower()).strip("_")
    return slug or "model"


# --- building and refreshing -------------------------------------------------


def _none(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(frame: pd.DataFrame, dataset_dir: Path, tax: taxonomy_mod.Taxonomy) -> dict[str, dict]:
    """Sample field values per image_id, each with a ``content_hash`` of its values."""
    out: dict[str, dict] = {}
    for row in frame.to_dict("records"):
        rec: dict[str, Any] = {"filepath": str((dataset_dir / row["path"]).resolve())}
        for name in STRING_FIELDS:
            if name == "family":  # read_manifest checked that the category is in the taxonomy
                rec[name] = tax.get(row["category"]).family
            else:
                rec[name] = _none(row.get(name))
        for name in INT_FIELDS:
            value = _none(row.get(name))
            rec[name] = None if value is None else int(value)
        for name in FLOAT_FIELDS:
            value = _none(row.get(name))
            rec[name] = None if value is None else float(value)
        rec["category"] = row["category"]
        rec["issues"] = [str(v) for v in (row.get("issues") or [])]
        bbox = row.get("bbox")  # a list of floats or None after manifest.coerce
        rec["bbox"] = None if bbox is None else [float(v) for v in bbox]
        blob = json.dumps(rec, sort_keys=True, default=str).encode()
        rec["content_hash"] = hashlib.sha256(blob).hexdigest()
        out[rec["image_id"]] = rec
    return out


def _ensure_schema(ds: fo.Dataset) -> None:
    """Declare every managed field so views work even when a column is all-null."""
    import fiftyone as fo

    schema = ds.get_field_schema()
    wanted: dict[str, tuple] = {name: (fo.StringField, {}) for name in STRING_FIELDS}
    wanted.update({name: (fo.IntField, {}) for name in INT_FIELDS})
    wanted.update({name: (fo.FloatField, {}) for name in FLOAT_FIELDS})
    wanted["issues"] = (fo.ListField, {"subfield": fo.StringField})
    wanted["bbox"] = (fo.ListField, {"subfield": fo.FloatField})
    wanted["content_hash"] = (fo.StringField, {})
    wanted["ground_truth"] = (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.Classification})
    for name, (ftype, kwargs) in wanted.items():
        if name not in schema:
            ds.add_sample_field(name, ftype, **kwargs)
    if "image_id" not in ds.list_indexes():
        ds.create_index("image_id", unique=True)


def _fields(rec: dict) -> dict[str, Any]:
    """A record as sample fields (everything but filepath and tags)."""
    import fiftyone as fo

    fields = {k: v for k, v in rec.items() if k not in ("filepath", "category")}
    fields["ground_truth"] = fo.Classification(label=rec["category"])
    fields["metadata"] = fo.ImageMetadata(width=rec["width"], height=rec["height"])
    return fields


def _new_sample(rec: dict) -> Any:
    import fiftyone as fo

    return fo.Sample(filepath=rec["filepath"], tags=[rec["split"]], **_fields(rec))


def _update(sample: Any, rec: dict) -> None:
    """Write a changed record onto an existing sample, keeping its non-split tags."""
    sample.filepath = rec["filepath"]
    for name, value in _fields(rec).items():
        sample[name] = value
    sample.tags = [t for t in sample.tags if t not in manifest_mod.SPLITS] + [rec["split"]]


def build_dataset(
    dataset_dir: str | os.PathLike[str],
    name: str | None = None,
    predictions: list[str | os.PathLike[str]] | tuple = (),
    quiet: bool = False,
) -> BrowseResult:
    """Create or incrementally refresh the persistent FiftyOne dataset of a dataset folder.

    Rows are matched by ``image_id``: new rows are added, rows whose values
    changed are updated in place (other samples are not written), rows no
    longer in the manifest are deleted. ``predictions`` files are attached
    with :func:`attach_predictions`; the saved views are then rebuilt.
    """
    import fiftyone as fo

    dataset_dir = Path(dataset_dir).resolve()
    frame = manifest_mod.read_manifest(dataset_dir)
    tax = taxonomy_mod.for_dataset(dataset_dir)
    name = name or default_name(dataset_dir)
    records = _records(frame, dataset_dir, tax)

    if fo.dataset_exists(name):
        ds = fo.load_dataset(name)
        owner = ds.info.get(INFO_KEY, {}).get("dataset_dir")
        if owner and owner != str(dataset_dir):
            raise Web2SkyError(
                f"FiftyOne dataset {name!r} already shows {owner}; pass --name to use another name "
                f"or delete it with `fiftyone datasets delete {name}`"
            )
    else:
        ds = fo.Dataset(name, persistent=True)
        # show the label, split and view on every grid tile (the App keeps the
        # "sample tags" checkbox off whatever the config says)
        ds.app_config.active_fields = fo.ActiveFields(paths=["ground_truth", "split", "view"])
        ds.save()
    _ensure_schema(ds)

    ids, hashes = ds.values(["image_id", "content_hash"]) if len(ds) else ([], [])
    existing = dict(zip(ids, hashes))
    gone = [i for i in existing if i not in records]
    new = [i for i in records if i not in existing]
    changed = [i for i in records if i in existing and existing[i] != records[i]["content_hash"]]

    if gone:
        ds.delete_samples(ds.select_by("image_id", gone))
    if new:
        # every field is declared by _ensure_schema, so skip per-sample schema expansion
        ds.add_samples((_new_sample(records[i]) for i in new), expand_schema=False, num_samples=len(new),
                       progress=not quiet)
    if changed:
        view = ds.select_by("image_id", changed)
        for sample in view.iter_samples(autosave=True, progress=False):
            _update(sample, records[sample["image_id"]])

    ds.default_classes = sorted(frame["category"].unique().tolist())
    info = dict(ds.info.get(INFO_KEY, {}))
    info.update({
        "dataset_dir": str(dataset_dir),
        "manifest_sha256": manifest_mod.file_sha256(dataset_dir / manifest_mod.MANIFEST_FILE),
    })
    ds.info[INFO_KEY] = info
    ds.save()

    for path in predictions:
        attach_predictions(ds, path, dataset_dir=dataset_dir)
    views = save_views(ds, frame)
    return BrowseResult(
        name=name, dataset=ds, added=len(new), updated=len(changed), removed=len(gone),
        unchanged=len(records) - len(new) - len(changed),
        models=sorted(ds.info.get(INFO_KEY, {}).get("predictions", {})), views=views,
    )


def stats_table(ds: fo.Dataset) -> pd.DataFrame:
    """The dataset's counts in the shape of :func:`web2sky_bench.manifest.stats`, splits read from sample tags."""
    views, sups, cats, tags = ds.values(["view", "super_category", "ground_truth.label", "tags"])
    splits = [next((t for t in tg if t in manifest_mod.SPLITS), "untagged") for tg in tags]
    frame = pd.DataFrame({"view": views, "super_category": sups, "category": cats, "split": splits})
    return manifest_mod.stats(frame)


# --- saved views ---------------------------------------------------------------


def leaky_groups(frame: pd.DataFrame) -> list[int]:
    """Near-duplicate groups whose members sit in more than one of train/val/test."""
    rows = frame[frame["dup_group"].notna() & frame["split"].isin(EVAL_SPLITS)]
    spans = rows.groupby("dup_group")["split"].nunique()
    return sorted(int(g) for g in spans[spans > 1].index)


def dup_groups(frame: pd.DataFrame) -> list[int]:
    """Near-duplicate groups with at least two members."""
    sizes = frame["dup_group"].dropna().value_counts()
    return sorted(int(g) for g in sizes[sizes > 1].index)


def save_views(ds: fo.Dataset, frame: pd.DataFrame) -> list[str]:
    """(Re)build the saved views of ``ds``; drop the ones this tool saved earlier that no longer apply."""
    from fiftyone import ViewField as F

    views: dict[str, Any] = {}
    present = frame.groupby(["split", "view"]).size()
    for split in manifest_mod.SPLITS:
        for view in manifest_mod.VIEWS:
            if (split, view) in present.index:
                views[f"{split}-{view}"] = ds.match_tags(split).match(F("view") == view)
    views["leaks"] = ds.match(F("dup_group").is_in(leaky_groups(frame))).sort_by("dup_group")
    views["dup-groups"] = ds.match(F("dup_group").is_in(dup_groups(frame))).sort_by("dup_group")
    views["flagged"] = ds.match(F("issues").length() > 0)
    for model, meta in ds.info.get(INFO_KEY, {}).get("predictions", {}).items():
        pred = meta["field"]
        views[f"mistakes-{field_slug(model)}"] = (
            ds.exists(pred)
            .match(F(f"{pred}.label") != F("ground_truth.label"))
            .sort_by(F(f"{pred}.confidence"), reverse=True)
        )
    old = ds.info.get(INFO_KEY, {}).get("views", [])
    existing = set(ds.list_saved_views())
    for name in old:
        if name not in views and name in existing:
            ds.delete_saved_view(name)
    for name, view in views.items():
        ds.save_view(name, view, description=VIEW_DESCRIPTION, overwrite=True)
    info = dict(ds.info.get(INFO_KEY, {}))
    info["views"] = list(views)
    ds.info[INFO_KEY] = info
    ds.save()
    return list(views)


# --- predictions ---------------------------------------------------------------


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _from_rows(rows: list[dict], model: str, source: str, classes: list[str] | None = None) -> Predictions:
    """Predictions from records with image_id, category (or prediction), optional confidence/logits/probs.

    Records with ``shots`` and ``seed`` (a leaderboard entry's predictions:
    one run per k and seed) keep the run with the largest k and the smallest
    seed, which is named in the model name.
    """
    if rows and "shots" in rows[0]:
        runs = {(str(r["shots"]), str(r.get("seed", ""))) for r in rows}

        def order(run: tuple[str, str]) -> tuple[int, float]:
            k, seed = run
            return (10**9 if k == "all" else int(float(k)), -float(seed) if seed else 0.0)

        k, seed = max(runs, key=order)
        rows = [r for r in rows if (str(r["shots"]), str(r.get("seed", ""))) == (k, seed)]
        if len(runs) > 1:
            model = f"{model} k={k} seed={seed}"
    pred = Predictions(model=model, labels={}, classes=classes, source=source)
    prob_cols = [k for k in (rows[0] if rows else {}) if k.startswith("prob_")]
    logit_cols = [k for k in (rows[0] if rows else {}) if k.startswith("logit_")]
    if prob_cols or logit_cols:
        cols = logit_cols or prob_cols
        pred.classes = [c.split("_", 1)[1] for c in cols]
    for n, row in enumerate(rows):
        image_id = str(row.get("image_id") or "").strip()
        label = row.get("category", row.get("prediction"))
        if not image_id or label in (None, ""):
            raise Web2SkyError(f"{source}: record {n} needs image_id and category, got {row!r}")
        pred.labels[image_id] = str(label)
        conf = row.get("confidence")
        if conf not in (None, "") and not (isinstance(conf, float) and math.isnan(conf)):
            pred.confidence[image_id] = float(conf)
        if logit_cols:
            logits = np.array([float(row[c]) for c in logit_cols])
        elif prob_cols:
            logits = np.log(np.clip([float(row[c]) for c in prob_cols], 1e-12, None))
        elif row.get("logits") is not None:
            logits = np.asarray(row["logits"], dtype=float)
        elif row.get("probs") is not None:
            logits = np.log(np.clip(np.asarray(row["probs"], dtype=float), 1e-12, None))
        else:
            continue
        pred.logits[image_id] = logits.tolist()
        if image_id not in pred.confidence:
            probs = _softmax(logits)
            idx = pred.classes.index(label) if pred.classes and label in pred.classes else int(probs.argmax())
            pred.confidence[image_id] = float(probs[idx])
    return pred


def read_predictions(path: str | os.PathLike[str], model: str | None = None) -> Predictions:
    """Read a predictions CSV or a leaderboard entry / predictions JSON.

    CSV: columns ``image_id``, ``category`` and optional ``confidence`` and
    per-class ``prob_<class>`` or ``logit_<class>`` columns. JSON: a list of
    ``{image_id, category, confidence[, logits|probs]}`` records, or an object
    (a leaderboard entry) whose ``predictions`` is such a list or a path
    (relative to the JSON file) to a predictions file; the model name comes
    from ``model.name`` (or ``model``), else the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise Web2SkyError(f"predictions file not found: {path}")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise Web2SkyError(f"{path} is not valid JSON: {exc}") from exc
        if isinstance(data, list):
            return _from_rows(data, model or path.stem, str(path))
        if not isinstance(data, dict) or "predictions" not in data:
            raise Web2SkyError(
                f"{path} has no 'predictions' (a list of {{image_id, category, confidence}} records "
                "or a path to a predictions file); pass the predictions file itself instead"
            )
        entry_model = data.get("model")
        if isinstance(entry_model, dict):
            entry_model = entry_model.get("name")
        model = model or entry_model or path.stem
        preds = data["predictions"]
        if isinstance(preds, str):
            return read_predictions(path.parent / preds, model)
        if not isinstance(preds, list):
            raise Web2SkyError(f"{path}: 'predictions' must be a list of records or a file path")
        return _from_rows(preds, model, str(path), data.get("classes"))
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Web2SkyError(f"{path} is not a readable CSV file: {exc}") from exc
    if not rows or "image_id" not in rows[0] or not ({"category", "prediction"} & set(rows[0])):
        raise Web2SkyError(f"{path}: a predictions CSV needs the columns image_id and category")
    if "model" in rows[0] and rows[0]["model"]:
        model = model or rows[0]["model"]
    return _from_rows(rows, model or path.stem, str(path))


def attach_predictions(
    ds: fo.Dataset,
    path: str | os.PathLike[str],
    model: str | None = None,
    dataset_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Attach a model's predictions as the Classification field ``pred_<model>``; return the model name.

    Re-attaching the same model replaces its earlier predictions. Every
    image_id must be in the dataset and every label in its taxonomy.
    """
    import fiftyone as fo

    pred = read_predictions(path, model)
    known = set(ds.values("image_id"))
    missing = [i for i in pred.labels if i not in known]
    if missing:
        raise Web2SkyError(
            f"{pred.source}: {len(missing)} image_id(s) are not in dataset {ds.name!r} "
            f"(e.g. {', '.join(missing[:5])}); were these predictions made on another dataset version?"
        )
    dir_ = dataset_dir or ds.info.get(INFO_KEY, {}).get("dataset_dir")
    tax = taxonomy_mod.for_dataset(dir_)
    unknown = sorted({label for label in pred.labels.values() if label not in tax})
    if unknown:
        raise Web2SkyError(f"{pred.source}: unknown categories {', '.join(unknown[:5])}; "
                           f"closest to {unknown[0]!r}: {', '.join(tax.closest(unknown[0])) or '-'}")
    name = f"pred_{field_slug(pred.model)}"
    if name in ds.get_field_schema():
        ds.clear_sample_field(name)
    else:
        ds.add_sample_field(name, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification)
    values = {
        i: fo.Classification(
            label=label,
            confidence=pred.confidence.get(i),
            logits=np.asarray(pred.logits[i]) if i in pred.logits else None,
        )
        for i, label in pred.labels.items()
    }
    ds.set_values(name, values, key_field="image_id")
    active = ds.app_config.active_fields
    if active is not None and not active.exclude and name not in active.paths:
        active.paths = [*active.paths, name]
    info = dict(ds.info.get(INFO_KEY, {}))
    models = dict(info.get("predictions", {}))
    models[pred.model] = {"field": name, "source": str(Path(path).resolve()), "classes": pred.classes}
    info["predictions"] = models
    ds.info[INFO_KEY] = info
    ds.save()
    return pred.model


# --- embeddings ------------------------------------------------------------------


def add_visualization(
    ds: fo.Dataset,
    image_ids: list[str],
    features: np.ndarray,
    brain_key: str = "features",
    method: str = "tsne",
    seed: int = 0,
) -> str:
    """Store a 2-D map of precomputed image features as brain run ``brain_key``; return the key.

    ``features`` is (n, d), row i belonging to ``image_ids[i]``. The App's
    Embeddings panel then shows the map (colour it by ``view`` to see web and
    aerial clusters). Methods: ``tsne`` or ``pca`` (scikit-learn), ``umap``
    when umap-learn is installed. An earlier run under the same key is replaced.
    """
    import fiftyone.brain as fob

    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) != len(image_ids):
        raise Web2SkyError(f"features must be ({len(image_ids)}, d), got {features.shape}")
    samples = ds.select_by("image_id", list(image_ids), ordered=True)
    if len(samples) != len(image_ids):
        raise Web2SkyError(f"{len(image_ids) - len(samples)} image_id(s) with features are not in {ds.name!r}")
    if brain_key in ds.list_brain_runs():
        ds.delete_brain_run(brain_key)
    kwargs: dict[str, Any] = {}
    if method == "tsne":  # defaults assume thousands of samples and > 50 dims
        kwargs = {"perplexity": max(2.0, min(30.0, (len(image_ids) - 1) / 3)),
                  "pca_dims": min(50, *features.shape)}
    fob.compute_visualization(samples, embeddings=features, method=method, brain_key=brain_key,
                              seed=seed, verbose=False, **kwargs)
    return brain_key


def add_backbone_visualization(
    ds: fo.Dataset, dataset_dir: str | os.PathLike[str], backbone: Any, method: str = "tsne", quiet: bool = False
) -> str:
    """Encode (or read from the feature cache) every image with ``backbone`` and map it in 2-D.

    The brain key is ``features_<backbone name>``; see :func:`add_visualization`.
    """
    from web2sky_bench.models.features import image_features

    frame = manifest_mod.read_manifest(dataset_dir)
    feats = image_features(backbone, dataset_dir, frame, quiet=quiet).numpy()
    return add_visualization(ds, frame["image_id"].tolist(), feats, brain_key=f"features_{field_slug(backbone.name)}",
                             method=method)


# --- the App -------------------------------------------------------------------


def port_is_free(port: int, address: str = "127.0.0.1") -> bool:
    """Whether a TCP port can be bound on ``address``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def launch(name: str, port: int = 5151, address: str = "127.0.0.1", wait: bool = True) -> Any:
    """Serve the FiftyOne App for dataset ``name`` on ``address:port``.

    The App server runs as a FiftyOne service subprocess that exits when this
    process exits. With ``wait`` this blocks until the process is stopped
    (Ctrl-C or SIGTERM); otherwise it returns the session.
    """
    import fiftyone as fo

    if not fo.dataset_exists(name):
        raise Web2SkyError(f"no FiftyOne dataset {name!r}; build it with `web2sky-bench browse DATASET --no-launch`")
    if not port_is_free(port, address):
        raise Web2SkyError(f"port {port} on {address} is in use; pass another --port")
    session = fo.launch_app(fo.load_dataset(name), port=port, address=address, remote=True, auto=False)
    if wait:
        session.wait(-1)
    return session
