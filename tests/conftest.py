"""Shared fixtures: an isolated WEB2SKY_HOME and offline model hubs for every test."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("web2sky-home")
    monkeypatch.setenv("WEB2SKY_HOME", str(home))
    yield home


def make_image_dataset(root: Path, rows: list[tuple[str, str, str, str, str]]) -> list[dict]:
    """Write small PNGs under ``root/images`` and return manifest rows.

    ``rows`` holds (image_id, view, super_category, category, split) tuples.
    """
    out = []
    for i, (image_id, view, sup, cat, split) in enumerate(rows):
        rel = f"images/{view}/{image_id}.png"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32 + i, 24), (i * 7 % 255, 80, 160)).save(path)
        out.append(
            {
                "image_id": image_id,
                "view": view,
                "super_category": sup,
                "category": cat,
                "split": split,
                "path": rel,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "width": 32 + i,
                "height": 24,
                "source": "test",
            }
        )
    return out


@pytest.fixture
def small_rows(tmp_path) -> list[dict]:
    """Six valid manifest rows with their images written under ``tmp_path``."""
    return make_image_dataset(
        tmp_path,
        [
            ("w1", "web", "aircraft", "f-16", "train"),
            ("w2", "web", "aircraft", "c-130", "train"),
            ("a1", "aerial", "aircraft", "f-16", "train"),
            ("a2", "aerial", "aircraft", "c-130", "val"),
            ("a3", "aerial", "ship", "nimitz-class", "test"),
            ("a4", "aerial", "ship", "container-ship", "test"),
        ],
    )


@pytest.fixture(scope="session")
def synth_mini(tmp_path_factory) -> Path:
    """web2sky-synth mini (seed 0), generated once per test session; treat it as read-only."""
    from web2sky_bench.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth-session")
    return generate_dataset(root / "web2sky-synth-mini", size="mini", seed=0, quiet=True)
