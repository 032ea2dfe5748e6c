"""Helpers shared by the curation verbs: find a dataset folder, rewrite its manifest and card."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from web2sky_bench import manifest as manifest_mod
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.paths import dataset_dir

REPORTS_DIR = "reports"
_CARD_COMPUTED = ("name", "version", "taxonomy_sha256", "manifest_sha256", "counts")


def resolve(dataset: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Path:
    """A dataset folder from a path or a dataset name under the datasets root."""
    path = Path(dataset).expanduser()
    if path.is_dir() and (path / manifest_mod.MANIFEST_FILE).is_file():
        return path
    if path.is_file() and path.name == manifest_mod.MANIFEST_FILE:
        return path.parent
    by_name = dataset_dir(str(dataset), root)
    if by_name.is_dir() and (by_name / manifest_mod.MANIFEST_FILE).is_file():
        return by_name
    if path.is_dir():
        raise Web2SkyError(f"{path} has no {manifest_mod.MANIFEST_FILE}: is it a web2sky dataset folder?")
    raise Web2SkyError(
        f"dataset {str(dataset)!r} not found: neither a folder nor a dataset under {by_name.parent} "
        "(see `web2sky-bench datasets`, or pass --root)"
    )


def save(frame: pd.DataFrame, folder: Path, **card_extra) -> Path:
    """Write the manifest (validated, atomic) and refresh ``dataset.json``.

    The card keeps its other fields; ``card_extra`` adds or replaces fields.
    A folder without a card gets one only when ``card_extra`` is given.
    """
    path = manifest_mod.write_manifest(frame, folder)
    has_card = (folder / manifest_mod.CARD_FILE).is_file()
    if has_card or card_extra:
        card = manifest_mod.read_card(folder) if has_card else {}
        extra = {k: v for k, v in card.items() if k not in _CARD_COMPUTED}
        extra.update(card_extra)
        manifest_mod.write_card(folder, card.get("name", folder.name), card.get("version", "0"), **extra)
    return path


def report_path(folder: Path, name: str, report: str | os.PathLike[str] | None) -> Path:
    """``report`` if given, else ``<dataset>/reports/<name>``."""
    return Path(report) if report else folder / REPORTS_DIR / name
