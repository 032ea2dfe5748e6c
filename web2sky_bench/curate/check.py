"""One health report for a dataset folder; :attr:`CheckReport.ok` is False on any problem.

Problems (each fails the check): manifest errors, missing files, files whose
sha256 changed, leakage (an exact or near-duplicate pair, or a dup_group, across
splits, across views too), classes below the minimum count per split, and
stored few-shot subsets that are not aerial training images. Warnings (do not
fail): unassigned rows, images that could not be hashed.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from web2sky_bench.curate import dataset as dataset_mod
from web2sky_bench.curate import fewshot, hashing
from web2sky_bench.curate.dedup import DEFAULT_RADIUS, exact_pairs, near_pairs, verify_pairs
from web2sky_bench.curate.split import ASSIGNED, split_counts
from web2sky_bench.io.atomic import write_json
from web2sky_bench.manifest import ManifestError, file_sha256, read_manifest

MAX_EXAMPLES = 20


@dataclass
class Problem:
    """One failed check: its kind, a message and up to MAX_EXAMPLES examples."""

    kind: str
    message: str
    examples: list = field(default_factory=list)


@dataclass
class CheckReport:
    """Everything ``check`` found; ``ok`` when there is no problem."""

    dataset: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.problems

    def to_dict(self) -> dict:
        """JSON-ready form of the report."""
        return {"dataset": self.dataset, "ok": self.ok, "summary": self.summary,
                "problems": [asdict(p) for p in self.problems], "warnings": [asdict(w) for w in self.warnings]}


def _files(folder: Path, frame: pd.DataFrame, verify_sha256: bool, quiet: bool) -> tuple[list, list]:
    missing, changed = [], []
    rows = zip(frame["image_id"], frame["path"], frame["sha256"])
    for image_id, rel, digest in tqdm(rows, total=len(frame), desc="files", unit="img", disable=quiet):
        path = folder / rel
        if not path.is_file():
            missing.append({"image_id": image_id, "path": rel})
        elif verify_sha256 and file_sha256(path) != digest:
            changed.append({"image_id": image_id, "path": rel})
    return missing, changed


def _hashes(folder: Path, frame: pd.DataFrame, flip: bool, crops: bool, verify: bool, present: np.ndarray,
            quiet: bool):
    """pHash per row: the manifest's where present (all recomputed for flip/crops/verify); ok mask."""
    n = len(frame)
    recompute_all = flip or crops or verify
    hashed = hashing.HashResult(
        np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64) if flip else None,
        frame["phash"].notna().to_numpy() & (not recompute_all), {},
        np.zeros((n, hashing.N_CROPS), dtype=np.uint64) if crops else None,
        np.zeros((n, hashing.N_CROPS), dtype=np.uint64) if crops and flip else None,
    )
    if verify:
        hashed.second = hashing.HashResult.empty(n, flip, crops)
    if hashed.ok.any():
        hashed.hashes[hashed.ok] = hashing.from_hex(frame.loc[hashed.ok, "phash"].tolist())
    todo = np.flatnonzero(~hashed.ok & present)
    if len(todo):
        result = hashing.hash_files([folder / frame["path"].iat[i] for i in todo], flip=flip, crops=crops,
                                    second_kind="dhash" if verify else None, quiet=quiet)
        hashed.put(todo, result)
    return hashed


def _leaks(frame: pd.DataFrame, i: np.ndarray, j: np.ndarray, dist: np.ndarray, kind: str) -> list[dict]:
    split = frame["split"].to_numpy()
    cross = (split[i] != split[j]) & np.isin(split[i], ASSIGNED) & np.isin(split[j], ASSIGNED)
    ids, views = frame["image_id"].to_numpy(), frame["view"].to_numpy()
    return [
        {"a": ids[a], "b": ids[b], "splits": [split[a], split[b]], "views": [views[a], views[b]],
         "distance": int(d), "kind": kind}
        for a, b, d in zip(i[cross], j[cross], dist[cross])
    ]


def check_dataset(
    dataset: str | os.PathLike[str],
    root: str | os.PathLike[str] | None = None,
    radius: int = DEFAULT_RADIUS,
    flip: bool = False,
    crops: bool = False,
    verify: bool = False,
    min_per_split: int = 1,
    views: tuple[str, ...] = ("aerial",),
    verify_sha256: bool = True,
    report: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> CheckReport:
    """Run every check on a dataset folder and write the JSON report.

    Leakage uses the manifest's pHash values (computed where missing); with
    ``flip``, ``crops`` or ``verify`` every image is re-hashed with its
    mirrored or crop hashes and its dHash, as ``dedup`` does.
    """
    folder = dataset_mod.resolve(dataset, root)
    out = CheckReport(str(folder))
    out_path = dataset_mod.report_path(folder, "check.json", report)
    try:
        frame = read_manifest(folder)
    except ManifestError as exc:
        out.problems.append(Problem("manifest", f"{len(exc.problems)} manifest problem(s)", exc.problems[:MAX_EXAMPLES]))
        write_json(out_path, out.to_dict())
        return out
    out.summary = {"images": len(frame), "by_split": frame["split"].value_counts().sort_index().to_dict()}

    missing, changed = _files(folder, frame, verify_sha256, quiet)
    if missing:
        out.problems.append(Problem("missing_files", f"{len(missing)} file(s) missing", missing[:MAX_EXAMPLES]))
    if changed:
        out.problems.append(Problem("sha256_changed", f"{len(changed)} file(s) differ from their sha256", changed[:MAX_EXAMPLES]))

    leaks = []
    ex = exact_pairs(frame["sha256"])
    leaks += _leaks(frame, ex.i, ex.j, ex.distance, "exact")
    missing_ids = {m["image_id"] for m in missing}
    present = ~frame["image_id"].isin(missing_ids).to_numpy()
    hashed = _hashes(folder, frame, flip, crops, verify, present, quiet)
    ok = hashed.ok
    idx = np.flatnonzero(ok)

    def rows(values):
        return values[idx] if values is not None else None

    near = near_pairs(hashed.hashes[idx], radius, rows(hashed.flipped), "auto",
                      rows(hashed.crops), rows(hashed.crops_flipped))
    if verify:
        near = verify_pairs(near, hashed.second, idx)
    sha = frame["sha256"].to_numpy()
    new = sha[idx[near.i]] != sha[idx[near.j]]  # exact pairs are reported above
    leaks += _leaks(frame, idx[near.i][new], idx[near.j][new], near.distance[new], "near")
    groups = frame[frame["dup_group"].notna() & frame["split"].isin(ASSIGNED)]
    spanning = groups.groupby("dup_group")["split"].nunique()
    for g in spanning.index[spanning > 1]:
        members = groups[groups["dup_group"] == g]
        leaks.append({"dup_group": int(g), "members": dict(zip(members["image_id"], members["split"])), "kind": "dup_group"})
    if leaks:
        out.problems.append(Problem("leakage", f"{len(leaks)} duplicate pair(s)/group(s) span splits", leaks[:MAX_EXAMPLES]))
    if (~ok & present).any():
        bad = frame.loc[~ok & present, "image_id"].tolist()
        out.warnings.append(Problem("unhashable", f"{len(bad)} image(s) could not be hashed; run `web2sky-bench clean`", bad[:MAX_EXAMPLES]))

    counts = split_counts(frame, views)
    if counts[list(ASSIGNED)].to_numpy().sum():
        low = counts[(counts[list(ASSIGNED)] < min_per_split).any(axis=1)]
        if len(low):
            examples = [{"view": v, "category": c, **{s: int(low.at[(v, c), s]) for s in ASSIGNED}}
                        for v, c in low.index]
            out.problems.append(Problem(
                "class_counts", f"{len(low)} class(es) of view {'/'.join(views)} have fewer than "
                f"{min_per_split} image(s) in a split", examples[:MAX_EXAMPLES]))
    unassigned = int((frame["split"] == "unassigned").sum())
    if unassigned:
        out.warnings.append(Problem("unassigned", f"{unassigned} row(s) have split 'unassigned'; run `web2sky-bench split`"))

    fs_path = folder / fewshot.FEWSHOT_FILE
    if fs_path.is_file():
        train_aerial = set(frame.loc[(frame["view"] == "aerial") & (frame["split"] == "train"), "image_id"])
        bad = sorted({i for by_seed in json.loads(fs_path.read_text()).values() for ids in by_seed.values()
                      for i in ids if i not in train_aerial})
        if bad:
            out.problems.append(Problem("fewshot", f"{len(bad)} few-shot id(s) are not aerial train images; "
                                        "rerun `web2sky-bench split`", bad[:MAX_EXAMPLES]))
    out.summary["leaks"] = len(leaks)
    write_json(out_path, out.to_dict())
    return out
