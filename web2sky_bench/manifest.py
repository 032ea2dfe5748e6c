"""The manifest: the one contract between stages (see DESIGN.md).

One row per image; Parquet on disk (CSV accepted on input); validated on every
read and write. :data:`COLUMNS` is the schema as code: each column's kind,
nullability and allowed values. :func:`validate` reports every problem with the
row number, the image_id and the column.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import atomic_path, write_json

MANIFEST_FILE = "manifest.parquet"
CARD_FILE = "dataset.json"
VIEWS = ("web", "aerial")
SPLITS = ("train", "val", "test", "unassigned")


@dataclass(frozen=True)
class Column:
    """One manifest column: its kind, nullability and allowed values."""

    name: str
    kind: str  # "str", "int", "float", "bbox", "list[str]"
    nullable: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    doc: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("image_id", "str", doc="stable unique id"),
    Column("view", "str", choices=VIEWS),
    Column("super_category", "str", choices=taxonomy_mod.SUPER_CATEGORIES),
    Column("category", "str", doc="fine-grained class id from the taxonomy"),
    Column("split", "str", choices=SPLITS),
    Column("path", "str", doc="relative to the dataset root, POSIX separators"),
    Column("sha256", "str", pattern=r"[0-9a-f]{64}"),
    Column("width", "int"),
    Column("height", "int"),
    Column("source", "str", doc="wikimedia, urllist, mar20, hrsc2016, synth, ..."),
    Column("url", "str", nullable=True),
    Column("license", "str", nullable=True),
    Column("attribution", "str", nullable=True),
    Column("source_image", "str", nullable=True, doc="aerial chips: parent image"),
    Column("bbox", "bbox", nullable=True, doc="[xmin, ymin, xmax, ymax] in the parent image"),
    Column("gsd_m", "float", nullable=True, doc="ground sample distance in metres"),
    Column("phash", "str", nullable=True, pattern=r"[0-9a-f]{16}"),
    Column("dup_group", "int", nullable=True, doc="near-duplicate cluster id"),
    Column("issues", "list[str]", doc="cleaning findings; empty = clean"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
_BY_NAME = {c.name: c for c in COLUMNS}
MAX_REPORTED_ERRORS = 50


class ManifestError(Web2SkyError):
    """A manifest that breaks the contract; ``problems`` lists each finding."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_REPORTED_ERRORS]
        more = len(problems) - len(shown)
        lines = [f"invalid manifest {source}: {len(problems)} problem(s)"]
        lines += [f"  - {p}" for p in shown]
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__("\n".join(lines))


def empty() -> pd.DataFrame:
    """An empty manifest with every column and its dtype."""
    return coerce(pd.DataFrame({name: [] for name in COLUMN_NAMES}))


def new_rows(rows: list[dict]) -> pd.DataFrame:
    """Build a manifest from dicts; absent nullable columns become null, issues ``[]``."""
    frame = pd.DataFrame(rows)
    for col in COLUMNS:
        if col.name not in frame.columns:
            if col.kind == "list[str]":
                frame[col.name] = [[] for _ in range(len(frame))]
            elif col.nullable:
                frame[col.name] = None
    return coerce(frame[[c for c in COLUMN_NAMES if c in frame.columns]])


def coerce(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast columns to their canonical dtypes where lossless; leave the rest for validate."""
    out = frame.copy()
    for col in COLUMNS:
        if col.name not in out.columns:
            continue
        series = out[col.name]
        all_null = bool(series.isna().all())
        if col.kind == "str":
            out[col.name] = series.astype("object").where(series.notna(), None)
        elif col.kind == "int" and (all_null or _is_integral(series)):
            out[col.name] = series.astype("Int64")
        elif col.kind == "float" and (all_null or _is_numeric(series)):
            out[col.name] = series.astype("Float64")
        elif col.kind == "list[str]":
            out[col.name] = series.map(_as_list)
        elif col.kind == "bbox":
            out[col.name] = series.map(_as_bbox)
    return out


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _is_integral(series: pd.Series) -> bool:
    if not _is_numeric(series):
        return False
    values = series.dropna().to_numpy(dtype="float64")
    return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))


def _parse_list_literal(text: str):
    """Parse a list written to CSV as JSON or as a Python literal; return text if neither."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text


def _as_list(value):
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = _parse_list_literal(text)
        else:
            return [v for v in text.split(";") if v] if text else []
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    return value


def _as_bbox(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        value = _parse_list_literal(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            return [float(v) for v in value]
        except (TypeError, ValueError):
            return value
    return value


def validate(
    frame: pd.DataFrame,
    taxonomy: taxonomy_mod.Taxonomy | None = None,
    source: str = "<manifest>",
) -> pd.DataFrame:
    """Check ``frame`` against the contract; return it coerced or raise :class:`ManifestError`.

    Every problem names the row number (0-based, as in the file), the image_id
    and the column.
    """
    tax = taxonomy or taxonomy_mod.load()
    problems: list[str] = []
    missing = [c for c in COLUMN_NAMES if c not in frame.columns]
    if missing:
        raise ManifestError(source, [f"missing column(s): {', '.join(missing)}"])
    extra = [c for c in frame.columns if c not in COLUMN_NAMES]
    if extra:
        problems.append(f"unknown column(s): {', '.join(map(str, extra))}")
    frame = coerce(frame[list(COLUMN_NAMES)])
    ids = frame["image_id"].tolist()

    def where(i: int, column: str) -> str:
        return f"row {i} (image_id={ids[i]!r}), column {column!r}"

    for col in COLUMNS:
        series = frame[col.name]
        if col.kind == "int" and not pd.api.types.is_integer_dtype(series):
            problems.append(f"column {col.name!r}: expected integers, got dtype {series.dtype}")
            continue
        if col.kind == "float" and not _is_numeric(series):
            problems.append(f"column {col.name!r}: expected numbers, got dtype {series.dtype}")
            continue
        for i, value in enumerate(series.tolist()):
            message = _check_value(col, value)
            if message:
                problems.append(f"{where(i, col.name)}: {message}")

    dup = frame["image_id"][frame["image_id"].duplicated(keep=False) & frame["image_id"].notna()]
    for i in dup.index[frame.loc[dup.index, "image_id"].duplicated()]:
        problems.append(f"{where(int(i), 'image_id')}: duplicate image_id")

    for i, (cat, sup) in enumerate(zip(frame["category"].tolist(), frame["super_category"].tolist())):
        if not isinstance(cat, str):
            continue
        if cat not in tax:
            close = tax.closest(cat)
            hint = f"; closest matches: {', '.join(close)}" if close else ""
            problems.append(f"{where(i, 'category')}: unknown category {cat!r}{hint}")
        elif isinstance(sup, str) and tax.get(cat).super_category != sup:
            problems.append(
                f"{where(i, 'super_category')}: {sup!r} but category {cat!r} is "
                f"{tax.get(cat).super_category!r} in the taxonomy"
            )
    if problems:
        raise ManifestError(source, problems)
    return frame.reset_index(drop=True)


def _check_value(col: Column, value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None if col.nullable else "missing value"
    if col.kind == "str":
        if not isinstance(value, str):
            return f"expected a string, got {type(value).__name__} {value!r}"
        if not value and not col.nullable:
            return "empty string"
        if col.choices and value not in col.choices:
            return f"invalid value {value!r}; expected one of {', '.join(col.choices)}"
        if col.pattern and not re.fullmatch(col.pattern, value):
            return f"invalid value {value!r}; expected to match {col.pattern}"
        if col.name == "path":
            return _check_relative_path(value)
    elif col.kind == "int":
        if col.name in ("width", "height") and int(value) <= 0:
            return f"must be positive, got {value}"
    elif col.kind == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"expected a list of strings, got {value!r}"
    elif col.kind == "bbox":
        if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, float) for v in value)):
            return f"expected [xmin, ymin, xmax, ymax], got {value!r}"
        if not (value[0] < value[2] and value[1] < value[3]):
            return f"empty or inverted box {value!r}"
    return None


def _check_relative_path(value: str) -> str | None:
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value) or PurePosixPath(value).is_absolute():
        return f"absolute path {value!r}; paths must be relative to the dataset root"
    if "\\" in value:
        return f"path {value!r} uses backslashes; use '/'"
    if ".." in PurePosixPath(value).parts:
        return f"path {value!r} escapes the dataset root with '..'"
    return None


def read_manifest(
    path: str | os.PathLike[str], taxonomy: taxonomy_mod.Taxonomy | None = None
) -> pd.DataFrame:
    """Read and validate a manifest (Parquet, or CSV on input).

    A path to a dataset folder reads its ``manifest.parquet``. The taxonomy
    defaults to the dataset folder's own ``taxonomy.csv`` when it has one.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise Web2SkyError(f"manifest not found: {path}")
    if path.stat().st_size == 0:
        raise Web2SkyError(f"manifest {path} is empty (0 bytes)")
    frame = _read_table(path)
    if frame.empty and len(frame.columns) == 0:
        raise Web2SkyError(f"manifest {path} has no columns")
    tax = taxonomy or taxonomy_mod.for_dataset(path.parent)
    return validate(frame, tax, source=str(path))


def _read_table(path: Path) -> pd.DataFrame:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise Web2SkyError(f"manifest {path} is not a readable Parquet file: {exc}") from exc
    if path.suffix.lower() not in (".csv", ".txt"):
        raise Web2SkyError(
            f"manifest {path} is neither Parquet (no PAR1 magic) nor CSV (by extension); "
            "write manifests with web2sky-bench or save them as .csv"
        )
    try:
        frame = pd.read_csv(path, dtype={"image_id": str, "sha256": str, "phash": str}, keep_default_na=True)
    except UnicodeDecodeError as exc:
        raise Web2SkyError(f"manifest {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except pd.errors.EmptyDataError as exc:
        raise Web2SkyError(f"manifest {path} is empty") from exc
    except pd.errors.ParserError as exc:
        raise Web2SkyError(f"manifest {path} is not valid CSV: {exc}") from exc
    return frame


def write_manifest(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    taxonomy: taxonomy_mod.Taxonomy | None = None,
) -> Path:
    """Validate and write ``frame`` as Parquet, atomically. Returns the final path."""
    path = Path(path)
    if path.is_dir() or path.suffix == "":
        path = path / MANIFEST_FILE
    tax = taxonomy or taxonomy_mod.for_dataset(path.parent)
    clean = validate(frame, tax, source=str(path))
    with atomic_path(path) as tmp:
        clean.to_parquet(tmp, index=False)
    return path


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts by view x super_category x category x split (one column per split)."""
    table = (
        frame.groupby(["view", "super_category", "category", "split"], observed=True)
        .size()
        .unstack("split", fill_value=0)
    )
    for split in SPLITS:
        if split not in table.columns:
            table[split] = 0
    table = table[list(SPLITS)]
    table["total"] = table.sum(axis=1)
    return table.astype(int)


def write_card(dataset_dir: str | os.PathLike[str], name: str, version: str, **extra) -> dict:
    """Write ``dataset.json`` (name, version, taxonomy version, manifest sha256, counts)."""
    dataset_dir = Path(dataset_dir)
    manifest_path = dataset_dir / MANIFEST_FILE
    frame = read_manifest(manifest_path)
    tax_path = dataset_dir / taxonomy_mod.TAXONOMY_FILE
    if not tax_path.is_file():
        tax_path = taxonomy_mod.load().source
    card = {
        "name": name,
        "version": version,
        "taxonomy_sha256": file_sha256(tax_path),
        "manifest_sha256": file_sha256(manifest_path),
        "counts": {
            "images": int(len(frame)),
            "categories": int(frame["category"].nunique()),
            "by_view": {k: int(v) for k, v in frame["view"].value_counts().sort_index().items()},
            "by_split": {k: int(v) for k, v in frame["split"].value_counts().sort_index().items()},
        },
        **extra,
    }
    write_json(dataset_dir / CARD_FILE, card)
    return card


def read_card(dataset_dir: str | os.PathLike[str]) -> dict:
    """Read a dataset folder's ``dataset.json``."""
    path = Path(dataset_dir) / CARD_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Web2SkyError(f"{path} not found: is {path.parent} a web2sky dataset folder?") from None
    except json.JSONDecodeError as exc:
        raise Web2SkyError(f"{path} is not valid JSON: {exc}") from exc
