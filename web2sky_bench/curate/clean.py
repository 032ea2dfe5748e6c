"""Cleaning checks: each has a score and a threshold, all kept in :data:`CHECKS`.

File-level checks (missing, empty, not an image, bomb, unreadable, truncated)
have no score: the file fails or passes. Quality checks compute a score on the
decoded, EXIF-oriented RGB image and flag it when the score crosses the
threshold. :func:`clean_dataset` writes the findings into the manifest's
``issues`` column and a JSON report.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from web2sky_bench.curate import dataset as dataset_mod
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.executors import Executor, Stage, get_executor
from web2sky_bench.io import images
from web2sky_bench.io.atomic import write_json
from web2sky_bench.manifest import read_manifest


@dataclass(frozen=True)
class Check:
    """One cleaning check. ``flag_below``: flagged when score < threshold (else > threshold)."""

    name: str
    doc: str
    threshold: float | None = None
    flag_below: bool = True
    drop: bool = True  # removed by ``--drop`` unless ``drop_issues`` says otherwise

    def flags(self, score: float) -> bool:
        """Whether ``score`` fails this check at ``self.threshold``."""
        assert self.threshold is not None
        return score < self.threshold if self.flag_below else score > self.threshold


# The one place where checks, their scores and thresholds live. Thresholds for
# darkness, brightness, aspect ratio and information follow cleanvision's defaults.
CHECKS: tuple[Check, ...] = (
    Check("missing_file", "the manifest path does not exist"),
    Check("zero_byte", "the file is empty"),
    Check("not_an_image", "the bytes are not an image format (HTML, text, PDF, ...)"),
    Check("unreadable", "image magic bytes but a corrupt header or pixel stream"),
    Check("truncated", "the pixel stream ends early"),
    Check("decompression_bomb", f"the header declares more than {images.MAX_PIXELS:,} pixels"),
    Check("wrong_extension", "the extension does not match the sniffed format", drop=False),
    Check("size_mismatch", "manifest width/height differ from the decoded (EXIF-oriented) image", drop=False),
    Check("too_small", "score: shorter side in pixels", threshold=16),
    Check("odd_aspect", "score: shorter side / longer side", threshold=0.2),
    Check("grayscale", "score: mean channel spread (max - min) / 255", threshold=0.01, drop=False),
    Check("too_dark", "score: 99th percentile of perceived brightness in [0, 1]", threshold=0.32),
    Check("too_bright", "score: 5th percentile of perceived brightness in [0, 1]", threshold=0.95, flag_below=False),
    Check("low_information", "score: grey-level entropy / 8 bits", threshold=0.3),
    Check("blurry", "score: variance of the Laplacian of the grey image (longer side <= 512)", threshold=10.0),
    Check("animated", "score: number of frames", threshold=1, flag_below=False),
)
CHECKS_BY_NAME = {c.name: c for c in CHECKS}
FILE_CHECKS = ("missing_file", "zero_byte", "not_an_image", "unreadable", "truncated", "decompression_bomb")
SCORE_SIDE = 512
BATCH_SIZE = 64  # images per executor batch (one batch runs in-process)


@dataclass
class Finding:
    """What the checks found for one image."""

    issues: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, reason: str) -> None:
        """Record issue ``name`` with a human-readable reason."""
        if name not in self.issues:
            self.issues.append(name)
        self.reasons[name] = reason


def thresholds_table(overrides: dict[str, float] | None = None) -> dict[str, Check]:
    """The checks with ``overrides`` ({name: threshold}) applied; unknown names raise."""
    table = dict(CHECKS_BY_NAME)
    for name, value in (overrides or {}).items():
        if name not in table or table[name].threshold is None:
            scored = ", ".join(c.name for c in CHECKS if c.threshold is not None)
            raise Web2SkyError(f"no scored check named {name!r}; thresholds exist for: {scored}")
        check = table[name]
        table[name] = Check(check.name, check.doc, float(value), check.flag_below, check.drop)
    return table


def _laplacian_variance(gray: np.ndarray) -> float:
    g = gray.astype(np.float64)
    if min(g.shape) < 3:
        return 0.0
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def scores(image: Image.Image, frames: int = 1) -> dict[str, float]:
    """Every quality score of an RGB image (see :data:`CHECKS` for what each means)."""
    width, height = image.size
    small = image
    if max(width, height) > SCORE_SIDE:
        small = image.copy()
        small.thumbnail((SCORE_SIDE, SCORE_SIDE), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float64)
    brightness = np.sqrt(0.241 * rgb[..., 0] ** 2 + 0.691 * rgb[..., 1] ** 2 + 0.068 * rgb[..., 2] ** 2) / 255.0
    gray = np.asarray(small.convert("L"))
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    return {
        "too_small": float(min(width, height)),
        "odd_aspect": float(min(width, height) / max(width, height)),
        "grayscale": float((rgb.max(axis=2) - rgb.min(axis=2)).mean() / 255.0),
        "too_dark": float(np.percentile(brightness, 99)),
        "too_bright": float(np.percentile(brightness, 5)),
        "low_information": float(abs((p * np.log2(p)).sum()) / 8.0),
        "blurry": _laplacian_variance(gray),
        "animated": float(frames),
    }


def inspect_image(
    path: str | os.PathLike[str],
    table: dict[str, Check] | None = None,
    expected_size: tuple[int, int] | None = None,
) -> Finding:
    """Run every check on one file; never raises for a bad file."""
    table = table or CHECKS_BY_NAME
    finding = Finding()
    try:
        decoded = images.decode(path)
    except images.ImageDecodeError as exc:
        finding.add(exc.reason, str(exc))
        return finding
    except Exception as exc:  # a decoder bug must not stop a cleaning run
        finding.add("unreadable", f"{path}: decoder failed ({type(exc).__name__}: {exc})")
        return finding
    finding.notes = decoded.notes
    if not images.extension_matches(path, decoded.format):
        finding.add("wrong_extension", f"{path}: {decoded.format} data under a {Path(path).suffix!r} name")
    if expected_size is not None and tuple(expected_size) != decoded.image.size:
        finding.add(
            "size_mismatch",
            f"manifest says {expected_size[0]}x{expected_size[1]}, decoded image is "
            f"{decoded.image.size[0]}x{decoded.image.size[1]}",
        )
    finding.scores = scores(decoded.image, decoded.frames)
    for name, score in finding.scores.items():
        check = table[name]
        if check.flags(score):
            relation = "<" if check.flag_below else ">"
            finding.add(name, f"{check.doc.removeprefix('score: ')} = {score:.4g} {relation} {check.threshold:g}")
    return finding


def inspect_batch(batch: pd.DataFrame, folder: str, table: dict[str, Check]) -> pd.DataFrame:
    """Per-batch form of :func:`inspect_image` for the executors: manifest rows -> a JSON finding per row."""
    findings = [
        inspect_image(os.path.join(folder, p), table, (int(w), int(h)))
        for p, w, h in zip(batch["path"], batch["width"], batch["height"])
    ]
    return pd.DataFrame({"finding": [json.dumps(asdict(f)) for f in findings]})


@dataclass
class CleanResult:
    """The cleaned manifest, per-row findings, the report path and the removed rows."""

    frame: pd.DataFrame
    findings: dict[str, Finding]
    report: Path
    dropped: list[str]
    deleted_files: list[str]


def clean_dataset(
    dataset: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    thresholds: dict[str, float] | None = None,
    drop: bool = False,
    drop_issues: list[str] | None = None,
    delete_files: bool = False,
    report: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    quiet: bool = False,
    executor: Executor | None = None,
) -> CleanResult:
    """Check every image of a dataset; write findings into ``issues`` and a JSON report.

    ``drop`` removes rows flagged with any issue in ``drop_issues`` (default:
    the checks marked ``drop=True``). Files are deleted only with
    ``delete_files`` (which needs ``drop``). ``executor`` runs the checks
    (default: local, ``workers`` processes; see :mod:`web2sky_bench.executors`).
    """
    if delete_files and not drop:
        raise Web2SkyError("--delete-files only deletes the files of dropped rows; add --drop")
    folder = dataset_mod.resolve(dataset, root)
    table = thresholds_table(thresholds)
    if drop_issues is not None:
        unknown = [n for n in drop_issues if n not in table]
        if unknown:
            raise Web2SkyError(f"unknown issue name(s) {unknown}; known: {', '.join(table)}")
        drop_set = set(drop_issues)
    else:
        drop_set = {c.name for c in table.values() if c.drop}
    frame = read_manifest(folder)
    executor = executor or get_executor("local", workers=workers)
    checked = executor.map_batches(Stage(inspect_batch, {"folder": str(folder), "table": table}),
                                   frame[["path", "width", "height"]], BATCH_SIZE, desc="clean", quiet=quiet)
    results = [Finding(**json.loads(f)) for f in checked["finding"]] if len(frame) else []
    findings = dict(zip(frame["image_id"], results))

    frame = frame.copy()
    frame["issues"] = [
        [i for i in old if i not in table] + f.issues for old, f in zip(frame["issues"], results)
    ]
    flagged = [bool(set(f.issues) & drop_set) for f in results]
    dropped = frame.loc[flagged, "image_id"].tolist() if drop else []
    deleted: list[str] = []
    if drop:
        if delete_files:
            for rel in frame.loc[flagged, "path"]:
                target = folder / rel
                if target.is_file():
                    target.unlink()
                    deleted.append(rel)
        frame = frame.loc[[not f for f in flagged]].reset_index(drop=True)
    dataset_mod.save(frame, folder)

    counts: dict[str, int] = {}
    for f in results:
        for issue in f.issues:
            counts[issue] = counts.get(issue, 0) + 1
    out = dataset_mod.report_path(folder, "clean.json", report)
    write_json(
        out,
        {
            "dataset": str(folder),
            "images": len(results),
            "flagged": sum(bool(f.issues) for f in results),
            "issue_counts": dict(sorted(counts.items())),
            "checks": [asdict(c) for c in table.values()],
            "dropped": dropped,
            "deleted_files": deleted,
            "findings": {
                image_id: asdict(f) for image_id, f in findings.items() if f.issues or f.notes
            },
        },
    )
    return CleanResult(frame, findings, out, dropped, deleted)
