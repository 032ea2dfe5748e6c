"""A tiny 4-class dataset folder for harness tests (2 aircraft, 2 ship classes)."""

from __future__ import annotations

from pathlib import Path

from conftest import make_image_dataset

from web2sky_bench.manifest import new_rows, write_card, write_manifest

CLASSES = {"su-35": "aircraft", "c-130": "aircraft", "nimitz-class": "ship", "container-ship": "ship"}


def make_eval_dataset(root: Path, name: str = "tiny-eval", web: int = 3, train: int = 4, val: int = 2,
                      test: int = 3) -> Path:
    """Per class: ``web`` web images, ``train``/``val``/``test`` aerial images. Returns the folder."""
    rows = []
    for c, sup in CLASSES.items():
        rows += [(f"{c}-w{i}", "web", sup, c, "train") for i in range(web)]
        for split, n in (("train", train), ("val", val), ("test", test)):
            rows += [(f"{c}-{split}{i}", "aerial", sup, c, split) for i in range(n)]
    folder = root / name
    write_manifest(new_rows(make_image_dataset(folder, rows)), folder)
    write_card(folder, name, "0.1")
    return folder
