"""Group-aware stratified splits, stored few-shot subsets, and the leakage/health check."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from web2sky_bench import manifest
from web2sky_bench.cli import main
from web2sky_bench.curate import check, fewshot, split
from web2sky_bench.errors import Web2SkyError

_spec = importlib.util.spec_from_file_location("malformed_data", Path(__file__).parent / "data/malformed/data.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

CATEGORIES = [("f-16", "aircraft"), ("c-130", "aircraft"), ("nimitz-class", "ship")]


def _row(folder: Path, image_id: str, view: str, cat: str, sup: str, split_name: str, image) -> dict:
    rel = f"images/{view}/{image_id}.jpg"
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    image.save(folder / rel, quality=90)
    return dict(image_id=image_id, view=view, super_category=sup, category=cat, split=split_name, path=rel,
                sha256=hashlib.sha256((folder / rel).read_bytes()).hexdigest(), width=image.size[0],
                height=image.size[1], source="test")


@pytest.fixture
def dataset(tmp_path) -> Path:
    """3 classes x (12 aerial + 2 web); one web photo has an aerial near-copy (a group across views)."""
    folder = tmp_path / "toy"
    rows, seed = [], 0
    for cat, sup in CATEGORIES:
        for i in range(12):
            seed += 1
            rows.append(_row(folder, f"{cat}-a{i:02d}", "aerial", cat, sup, "unassigned", fixtures.photo((96, 72), seed)))
        for i in range(2):
            seed += 1
            rows.append(_row(folder, f"{cat}-w{i}", "web", cat, sup, "unassigned", fixtures.photo((96, 72), seed)))
    web = fixtures.photo((96, 72), seed)  # the last web photo, re-encoded smaller as an "aerial" chip
    rows.append(_row(folder, "nimitz-class-a99", "aerial", "nimitz-class", "ship", "unassigned", web.resize((80, 60))))
    manifest.write_manifest(manifest.new_rows(rows), folder)
    manifest.write_card(folder, "toy", "1")
    return folder


def test_split_is_stratified_group_aware_and_deterministic(dataset):
    result = split.split_dataset(dataset, seed=7, quiet=True)
    assert result.deduplicated
    frame = result.frame.set_index("image_id")
    assert (frame.loc[frame["view"] == "web", "split"] == "train").all()
    assert frame.at["nimitz-class-a99", "split"] == "train"  # its group holds a web image
    assert frame.at["nimitz-class-a99", "dup_group"] == frame.at["nimitz-class-w1", "dup_group"]
    counts = result.counts
    assert (counts.loc[:, ["train", "val", "test"]] >= 1).all().all()
    assert counts.loc[("aerial", "f-16")].tolist() == [6, 2, 4, 0]  # 12 images: 35% test, 15% val
    first = result.frame["split"].tolist()
    again = split.split_dataset(dataset, seed=7, dedup="never", quiet=True).frame["split"].tolist()
    other = split.split_dataset(dataset, seed=8, dedup="never", quiet=True).frame["split"].tolist()
    assert first == again and first != other
    card = manifest.read_card(dataset)
    assert card["split"]["seed"] == 8 and card["name"] == "toy"


def test_groups_never_span_splits():
    rows = []
    for i in range(40):
        rows.append(dict(image_id=f"a{i:02d}", view="aerial", category="f-16", dup_group=i // 4 if i < 24 else None))
        rows.append(dict(image_id=f"w{i:02d}", view="web", category="f-16", dup_group=100 + i // 2 if i < 8 else None))
    rows.append(dict(image_id="w-of-a", view="web", category="f-16", dup_group=5))  # a group across views
    frame = pd.DataFrame(rows)
    config = split.SplitConfig(split_views=("web", "aerial"))
    for seed in range(5):
        splits = split.assign_splits(frame, seed, config)
        grouped = frame.assign(split=splits).dropna(subset=["dup_group"])
        assert (grouped.groupby("dup_group")["split"].nunique() == 1).all()
        per_view = frame.assign(split=splits).groupby("view")["split"].value_counts().unstack()
        assert (per_view[["train", "val", "test"]] >= 4).all().all()  # stratified per view
    web_train = split.assign_splits(frame, 0)  # default: web is not split, its groups go to train
    assert (web_train[frame["dup_group"] == 5] == "train").all()


def test_split_config_errors():
    with pytest.raises(Web2SkyError, match="no training data"):
        split.SplitConfig(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(Web2SkyError, match="views"):
        split.SplitConfig(split_views=("satellite",))


def test_fewshot_lists_are_stored_and_stable(dataset):
    split.split_dataset(dataset, seed=1, quiet=True)
    table = json.loads((dataset / "fewshot.json").read_text())
    assert set(table) == {"1", "2", "4", "8", "16"} and set(table["4"]) == {"1", "2", "3"}
    frame = manifest.read_manifest(dataset)
    assert len(table["1"]["1"]) == 3
    assert table["4"]["2"] == fewshot.few_shot_ids(frame, 4, 2)
    assert fewshot.load_few_shot(dataset, 4, 2) == table["4"]["2"]
    train = set(frame.loc[(frame["view"] == "aerial") & (frame["split"] == "train"), "image_id"])
    assert set(table["16"]["3"]) == train  # fewer than 16 per class: all of them


def test_check_fails_on_planted_leak_and_passes_after_split(dataset):
    runner = CliRunner()
    assert runner.invoke(main, ["split", str(dataset), "--seed", "3", "-q"]).exit_code == 0
    ok = runner.invoke(main, ["check", str(dataset), "-q"])
    assert ok.exit_code == 0, ok.output
    # plant a re-encoded copy of a test image into train
    frame = manifest.read_manifest(dataset)
    victim = frame[(frame["split"] == "test")].iloc[0]
    from PIL import Image

    image = Image.open(dataset / victim["path"]).convert("RGB").resize((90, 68))
    row = _row(dataset, "planted", "aerial", victim["category"], victim["super_category"], "train", image)
    manifest.write_manifest(pd.concat([frame, manifest.new_rows([row])], ignore_index=True), dataset)
    leak = runner.invoke(main, ["check", str(dataset), "-q"])
    assert leak.exit_code == 1 and "FAIL leakage" in leak.output, leak.output
    report = json.loads((dataset / "reports/check.json").read_text())
    pair = report["problems"][0]["examples"][0]
    assert {pair["a"], pair["b"]} == {victim["image_id"], "planted"} and pair["kind"] == "near"
    assert runner.invoke(main, ["split", str(dataset), "--seed", "3", "-q"]).exit_code == 0
    fixed = runner.invoke(main, ["check", str(dataset), "-q"])
    assert fixed.exit_code == 0, fixed.output
    after = manifest.read_manifest(dataset).set_index("image_id")
    assert after.at["planted", "split"] == after.at[victim["image_id"], "split"]


def test_check_reports_files_counts_and_manifest_errors(dataset):
    split.split_dataset(dataset, seed=0, quiet=True)
    frame = manifest.read_manifest(dataset)
    paths = frame.set_index("image_id")["path"]
    (dataset / paths["f-16-a00"]).unlink()
    (dataset / paths["c-130-a00"]).write_bytes(b"changed")
    frame.loc[frame["category"] == "nimitz-class", "split"] = "train"
    shot = json.loads((dataset / "fewshot.json").read_text())["1"]["1"][0]
    frame.loc[frame["image_id"] == shot, "split"] = "val"
    manifest.write_manifest(frame, dataset)
    report = check.check_dataset(dataset, quiet=True)
    kinds = {p.kind for p in report.problems}
    assert not report.ok
    assert {"missing_files", "sha256_changed", "class_counts", "fewshot"} <= kinds
    low = next(p for p in report.problems if p.kind == "class_counts")
    assert [(e["view"], e["category"]) for e in low.examples] == [("aerial", "nimitz-class")]
    broken = frame.copy()
    broken.loc[0, "category"] = "no-such-plane"
    broken.to_parquet(dataset / "manifest.parquet")
    result = CliRunner().invoke(main, ["check", str(dataset), "-q"])
    assert result.exit_code == 1 and "FAIL manifest" in result.output


def test_split_reruns_dedup_with_recorded_settings(dataset):
    from PIL import Image, ImageOps

    from web2sky_bench.curate import dedup

    dedup.dedup_dataset(dataset, flip=True, workers=1, quiet=True)
    assert manifest.read_card(dataset)["dedup"]["flip"] is True
    frame = manifest.read_manifest(dataset)
    victim = frame.iloc[0]
    image = ImageOps.mirror(Image.open(dataset / victim["path"]).convert("RGB"))
    row = _row(dataset, "mirrored", "aerial", victim["category"], victim["super_category"], "unassigned", image)
    manifest.write_manifest(pd.concat([frame, manifest.new_rows([row])], ignore_index=True), dataset)
    result = split.split_dataset(dataset, seed=1, quiet=True)
    assert result.deduplicated
    after = result.frame.set_index("image_id")
    assert after.at["mirrored", "dup_group"] == after.at[victim["image_id"], "dup_group"]
    assert after.at["mirrored", "split"] == after.at[victim["image_id"], "split"]
    again = split.split_dataset(dataset, seed=1, quiet=True)
    assert not again.deduplicated


def test_dataset_by_name_under_root(dataset):
    runner = CliRunner()
    root = str(dataset.parent)
    assert runner.invoke(main, ["split", "toy", "--root", root, "--seed", "2", "-q"]).exit_code == 0
    result = runner.invoke(main, ["check", "toy", "--root", root, "--no-sha256", "-q"])
    assert result.exit_code == 0 and "ok:" in result.output, result.output
    missing = runner.invoke(main, ["check", "nope", "--root", root])
    assert missing.exit_code == 2 and "not found" in missing.output


def test_check_finds_mirrored_and_cropped_leaks_only_when_asked(dataset):
    from PIL import Image, ImageOps

    split.split_dataset(dataset, seed=4, quiet=True)
    frame = manifest.read_manifest(dataset)
    test_rows = frame[frame["split"] == "test"]
    new = []
    for name, victim, make in (("mirror", test_rows.iloc[0], ImageOps.mirror),
                               ("crop", test_rows.iloc[1], lambda im: im.crop((5, 0, 96, 66)))):
        image = make(Image.open(dataset / victim["path"]).convert("RGB"))
        new.append(_row(dataset, f"leak-{name}", "aerial", victim["category"], victim["super_category"], "train", image))
    manifest.write_manifest(pd.concat([frame, manifest.new_rows(new)], ignore_index=True), dataset)
    plain = check.check_dataset(dataset, verify_sha256=False, quiet=True)
    assert plain.ok, [p.message for p in plain.problems]
    report = check.check_dataset(dataset, flip=True, crops=True, radius=6, verify_sha256=False, quiet=True)
    leak = next(p for p in report.problems if p.kind == "leakage")
    assert {e["b"] for e in leak.examples} | {e["a"] for e in leak.examples} >= {"leak-mirror", "leak-crop"}
