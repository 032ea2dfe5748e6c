"""Protocol web2sky-v1 end to end on a tiny image dataset, a tiny random-weight
open_clip backbone (real open_clip code) and a small nearest-class-mean model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from eval_data import CLASSES, make_eval_dataset

from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.evaluate import protocol as P
from web2sky_bench.evaluate.entries import load_entry
from web2sky_bench.manifest import read_manifest
from web2sky_bench.models.base import Model, Split, TaskData

TINY = "web2sky-tiny-eval"
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 1, "layers": 1},
}


class NearestMean(Model):
    """Cosine nearest class mean over aerial k-shot (+ web, weighted) features; records what it saw."""

    name = "nearest-mean-test"
    description = "test model: nearest class mean"
    default_config = {"web_weight": 0.5}
    seen: list[set[str]] = []
    predicted: list[list[str]] = []

    def fit(self, data: TaskData) -> None:
        NearestMean.seen.append(set(data.web_train.image_ids) | set(data.aerial_train.image_ids)
                                | set(data.aerial_val.image_ids))
        assert data.encode_text(["a photo"]).shape[0] == 1
        k = len(data.classes)
        means = torch.zeros(k, data.aerial_train.features.shape[1])
        for split, w in ((data.aerial_train, 1.0), (data.web_train, self.config["web_weight"])):
            means.index_add_(0, split.labels, w * split.features)
        self.means = torch.nn.functional.normalize(means + 1e-6, dim=1)

    def predict(self, aerial: Split) -> np.ndarray:
        NearestMean.predicted.append(list(aerial.image_ids))
        return torch.softmax(20 * aerial.features @ self.means.T, dim=1).numpy()


@pytest.fixture
def setup(tmp_path):
    import open_clip

    cfg = tmp_path / f"{TINY}.json"
    cfg.write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(cfg)
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    torch.save(open_clip.create_model(TINY).state_dict(), ckpt)
    ds = make_eval_dataset(tmp_path)
    (ds / "concepts.json").write_text(json.dumps({c: [f"a {c}", f"{c} seen from above"] for c in CLASSES}))
    NearestMean.seen.clear()
    NearestMean.predicted.clear()
    return ds, str(ckpt)


def _metrics(entry):
    return {k: [{m: v for m, v in r.items() if m not in ("runtime_s", "cached")} for r in res["runs"]]
            for k, res in entry["results"].items()}


def test_same_seed_same_metrics_and_test_isolation(setup):
    ds, ckpt = setup
    kw = dict(dataset=ds, track="all", shots=["1", "all"], seeds=[1, 2], backbone=TINY, pretrained=ckpt,
              device="cpu", quiet=True, cache=False)
    a, csv_a = P.run_protocol(NearestMean, **kw)
    b, csv_b = P.run_protocol(NearestMean, **kw)
    assert _metrics(a) == _metrics(b) and csv_a == csv_b and a["entry_id"] == b["entry_id"]
    c, csv_c = P.run_protocol(NearestMean, jobs=2, **kw)  # forked parallel runs: same numbers
    assert _metrics(c) == _metrics(a) and csv_c == csv_a
    frame = read_manifest(ds)
    test_ids = set(frame.loc[frame["split"] == "test", "image_id"])
    assert all(not (s & test_ids) for s in NearestMean.seen), "a test image reached fit"
    test_calls = [p for p in NearestMean.predicted if set(p) == test_ids]
    assert len(test_calls) == 2 * 4, "test must be predicted exactly once per (k, seed) run (jobs=1 runs)"
    assert a["results"]["1"]["runs"][0]["n_train_aerial"] == 4 and a["results"]["all"]["runs"][0]["n_train_aerial"] == 16
    assert a["results"]["1"]["aggregate"]["n_seeds"] == 2
    assert a["model"]["pretrained"].startswith("tiny.pt (sha256:")
    assert a["benchmark"]["name"] == "tiny-eval" and a["classes"] == sorted(CLASSES)
    assert set(a["results"]["all"]["runs"][0]["per_super_category_acc"]) == {"aircraft", "ship"}
    # different seeds draw different 1-shot subsets
    from web2sky_bench.models.backbones import load_backbone

    bb = load_backbone(TINY, ckpt, device="cpu")
    d1 = P.build_task_data(ds, frame, "all", 1, 1, bb)
    d2 = P.build_task_data(ds, frame, "all", 1, 2, bb)
    assert d1.aerial_train.features.shape == (4, 16) and d1.concepts["su-35"] == ["a su-35", "su-35 seen from above"]
    assert d1.aerial_train.image_ids != d2.aerial_train.image_ids


def test_run_cache_reuses_identical_runs_only(setup):
    ds, ckpt = setup
    kw = dict(dataset=ds, track="ship", shots=["1"], seeds=[1, 2], backbone=TINY, pretrained=ckpt, device="cpu",
              quiet=True)
    a, csv_a = P.run_protocol(NearestMean, **kw)
    assert len(NearestMean.seen) == 2 and not any(r["cached"] for r in a["results"]["1"]["runs"])
    b, csv_b = P.run_protocol(NearestMean, **kw)
    assert len(NearestMean.seen) == 2, "a cached run must not fit again"
    assert all(r["cached"] for r in b["results"]["1"]["runs"]) and _metrics(a) == _metrics(b) and csv_a == csv_b
    P.run_protocol(NearestMean, config={"web_weight": 0.1}, **kw)  # another config: fits again
    assert len(NearestMean.seen) == 4
    P.run_protocol(NearestMean, cache=False, **kw)
    assert len(NearestMean.seen) == 6


def test_track_restricts_classes(setup):
    from web2sky_bench.models.backbones import load_backbone

    ds, ckpt = setup
    frame = read_manifest(ds)
    bb = load_backbone(TINY, ckpt, device="cpu")
    data = P.build_task_data(ds, frame, "ship", "2", 3, bb, features={i: torch.ones(16) for i in frame["image_id"]})
    assert data.classes == ["container-ship", "nimitz-class"]
    assert len(data.aerial_train) == 4 and len(data.web_train) == 6 and len(data.aerial_val) == 4
    assert not any("test" in i for i in data.aerial_train.image_ids + data.aerial_val.image_ids)
    with pytest.raises(Web2SkyError, match="unknown track"):
        P.build_task_data(ds, frame, "boats", 1, 1, bb, features={})


def test_evaluate_cli(setup, tmp_path, monkeypatch):
    from web2sky_bench.models import registry

    ds, ckpt = setup
    monkeypatch.setitem(registry.MODELS, NearestMean.name, "test_protocol:NearestMean")
    (tmp_path / "cfg.json").write_text('{"web_weight": 0.0}')
    out = tmp_path / "lb"
    args = ["evaluate", "--model", NearestMean.name, "--dataset", str(ds), "--track", "aircraft", "--shots", "2,all",
            "--seeds", "1", "--backbone", TINY, "--pretrained", ckpt, "--config", str(tmp_path / "cfg.json"),
            "--out", str(out), "--device", "cpu"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "k=2   seed=1" in res.output and "top-1 %" in res.output
    entry = load_entry(next(out.glob("tiny-eval/aircraft/entries/*.json")))
    assert entry["model"]["config"] == {"web_weight": 0.0} and list(entry["results"]) == ["2", "all"]
    (tmp_path / "bad.json").write_text('{"nope": 1}')
    res = CliRunner().invoke(main, args[:-6] + ["--config", str(tmp_path / "bad.json"), "--out", str(out)])
    assert res.exit_code == 2 and "has no option(s) nope" in res.output
    res = CliRunner().invoke(main, ["evaluate", "--model", f"{NearestMean.name},no-such-model", "--dataset", str(ds)])
    assert res.exit_code == 2 and "unknown model" in res.output


def test_resolve_dataset(tmp_path, monkeypatch):
    ds = make_eval_dataset(tmp_path / "root")
    assert P.resolve_dataset(str(ds)) == ds
    assert P.resolve_dataset("tiny-eval", root=str(tmp_path / "root")) == ds
    with pytest.raises(Web2SkyError, match="not a dataset folder"):
        P.resolve_dataset(str(tmp_path))
    with pytest.raises(Web2SkyError, match="web2sky-bench download nope"):
        P.resolve_dataset("nope", root=str(tmp_path / "root"))
    calls = []
    import web2sky_bench.synth as synth

    monkeypatch.setattr(synth, "ensure_dataset", lambda size, root=None, quiet=False: calls.append(size) or ds)
    assert P.resolve_dataset(None, root=str(tmp_path / "root")) == ds and calls == ["mini"]
    assert P.benchmark_info(ds)["name"] == "tiny-eval"
