"""web2sky-synth: generator determinism, balance, captions/concepts, dataset folder, preview."""

from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from web2sky_bench import manifest, taxonomy
from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.paths import dataset_dir
from web2sky_bench.synth import SIZES, ensure_dataset, generate_dataset
from web2sky_bench.synth.categories import (
    AIRCRAFT,
    BY_ID,
    CATEGORIES,
    SHIPS,
    attribute_phrases,
    concepts,
)
from web2sky_bench.synth.render import CHIP_SIZE, WEB_SIZE


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny size generated once, in one process."""
    return generate_dataset(tmp_path_factory.mktemp("synth") / "tiny", size="tiny", seed=0, quiet=True, workers=1)


def _digest_tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_whatever_the_workers(tiny, tmp_path):
    again = generate_dataset(tmp_path / "again", size="tiny", seed=0, quiet=True, workers=2)
    assert (again / "manifest.parquet").read_bytes() == (tiny / "manifest.parquet").read_bytes()
    assert _digest_tree(again) == _digest_tree(tiny)


def test_other_seed_gives_other_images(tiny, tmp_path):
    other = generate_dataset(tmp_path / "other", size="tiny", seed=1, quiet=True)
    a = manifest.read_manifest(tiny).set_index("image_id")["sha256"]
    b = manifest.read_manifest(other).set_index("image_id")["sha256"]
    assert list(a.index) == list(b.index)
    assert (a != b).all()


def test_folder_is_a_valid_dataset_with_own_taxonomy(tiny):
    frame = manifest.read_manifest(tiny)
    tax = taxonomy.for_dataset(tiny)
    assert set(tax.ids) == {c.id for c in CATEGORIES}
    assert tax.get("synth-carrier").super_category == "ship"
    card = manifest.read_card(tiny)
    assert card["name"] == "web2sky-synth-tiny" and card["seed"] == 0
    assert card["manifest_sha256"] == manifest.file_sha256(tiny / "manifest.parquet")
    for row in frame.itertuples():
        path = tiny / row.path
        assert manifest.file_sha256(path) == row.sha256
        with Image.open(path) as im:
            assert im.size == (row.width, row.height)
            assert im.size == ((WEB_SIZE, WEB_SIZE) if row.view == "web" else (CHIP_SIZE, CHIP_SIZE))
    aerial = frame[frame["view"] == "aerial"]
    assert aerial["gsd_m"].notna().all() and (aerial["gsd_m"] > 0).all()
    assert frame[frame["view"] == "web"]["gsd_m"].isna().all()


def test_class_balance_matches_the_size(tiny):
    frame = manifest.read_manifest(tiny)
    size = SIZES["tiny"]
    counts = frame.groupby(["category", "view", "split"]).size()
    for cat, view in itertools.product(BY_ID, ("web", "aerial")):
        expected = dict(zip(("train", "val", "test"), getattr(size, view)))
        for split, n in expected.items():
            assert counts[(cat, view, split)] == n
    assert len(frame) == len(CATEGORIES) * size.per_category()


def test_mini_has_enough_aerial_images_for_16_shot():
    train, val, test = SIZES["mini"].aerial
    assert train >= 16 and val > 0 and test > 0


def test_captions_describe_their_own_category(tiny):
    frame = manifest.read_manifest(tiny).set_index("image_id")
    caps = pd.read_parquet(tiny / "captions.parquet").set_index("image_id")["caption"]
    assert set(caps.index) == set(frame.index)
    all_phrases = {p for c in CATEGORIES for p in attribute_phrases(c)}
    for image_id, text in caps.items():
        spec = BY_ID[frame.loc[image_id, "category"]]
        own = set(attribute_phrases(spec))
        assert f" {spec.display_name} " in text
        used = {p for p in all_phrases if p in text}
        assert len(used & own) >= 2, text
        foreign = {p for p in used - own if not any(p in o for o in own)}
        assert not foreign, (text, foreign)
        assert ("satellite" in text or "aerial" in text) == (frame.loc[image_id, "view"] == "aerial")


def test_concepts_are_view_invariant_attribute_phrases(tiny):
    stored = json.loads((tiny / "concepts.json").read_text())
    assert set(stored) == set(BY_ID)
    for cid, phrases in stored.items():
        assert len(phrases) >= 6 and len(set(phrases)) == len(phrases)
        assert phrases == concepts(BY_ID[cid])
        assert not any(w in " ".join(phrases) for w in ("satellite", "photo", "aerial", "sky"))


def test_categories_are_fine_grained():
    assert len(AIRCRAFT) >= 12 and len(SHIPS) >= 12
    sets = {c.id: frozenset(attribute_phrases(c)) for c in CATEGORIES}
    assert len(set(sets.values())) == len(sets), "two categories share every attribute phrase"
    close = [(a, b) for a, b in itertools.combinations(sets, 2)
             if BY_ID[a].super_category == BY_ID[b].super_category and len(sets[a] ^ sets[b]) <= 4]
    assert len(close) >= 4, close  # several pairs differ in only one or two attributes


def test_existing_folder_is_reused_or_protected(tiny, tmp_path):
    before = (tiny / "manifest.parquet").stat().st_mtime_ns
    assert generate_dataset(tiny, size="tiny", seed=0, quiet=True) == tiny
    assert (tiny / "manifest.parquet").stat().st_mtime_ns == before
    with pytest.raises(Web2SkyError, match="force"):
        generate_dataset(tiny, size="tiny", seed=5, quiet=True)
    with pytest.raises(Web2SkyError, match="unknown web2sky-synth size"):
        generate_dataset(tmp_path / "x", size="huge")


def test_ensure_dataset_generates_once_under_the_datasets_root(tmp_path):
    folder = ensure_dataset("tiny", seed=0, root=tmp_path, quiet=True)
    assert folder == dataset_dir("web2sky-synth-tiny", tmp_path)
    stamp = (folder / "dataset.json").stat().st_mtime_ns
    assert ensure_dataset("tiny", seed=0, root=tmp_path, quiet=True) == folder
    assert (folder / "dataset.json").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left
    ensure_dataset("tiny", seed=3, root=tmp_path, quiet=True)
    assert manifest.read_card(folder)["seed"] == 3


def test_cli_validates_the_generated_folder(tiny):
    result = CliRunner().invoke(main, ["manifest", "validate", str(tiny)])
    assert result.exit_code == 0, result.output
    assert f"{len(CATEGORIES)} categories" in result.output


def test_preview_cli_writes_a_contact_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(main, ["synth", "preview", "--out", str(out), "--per-view", "1", "-q"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.height >= 128 * len(CATEGORIES)
        assert len(np.unique(np.asarray(im.convert("L")))) > 50  # real renders, not a blank canvas
