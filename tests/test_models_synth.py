"""End to end on web2sky-synth mini with synth-clip: every registered model beats chance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from web2sky_bench.models.registry import MODELS, get_model

pytestmark = pytest.mark.slow  # encodes synth mini and trains 19 models (~1 min on 2 cores)


@pytest.fixture(scope="module")
def synth_task(tmp_path_factory, synth_mini):
    from web2sky_bench.evaluate.protocol import build_task_data, encode, test_rows
    from web2sky_bench.manifest import read_manifest
    from web2sky_bench.models.backbones import load_backbone
    from web2sky_bench.models.base import Split

    home = tmp_path_factory.mktemp("synth-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEB2SKY_HOME", str(home))
        torch.set_num_threads(1)
        ds = synth_mini
        frame = read_manifest(ds)
        bb = load_backbone("synth-clip", device="cpu", dataset_dir=ds)
        feats = encode(bb, ds, frame)
        data = build_task_data(ds, frame, "all", 4, 1, bb, features=feats)
        test = test_rows(frame, "all")
        split = Split(torch.stack([feats[i] for i in test["image_id"]]), None, test["image_id"].tolist())
        truth = np.array([data.classes.index(c) for c in test["category"]])
        yield data, split, truth


@pytest.mark.parametrize("name", list(MODELS))
def test_model_beats_chance_on_synth_mini(name, synth_task):
    data, test, truth = synth_task
    cls = get_model(name)
    model = cls({"epochs": 5} if "epochs" in cls.default_config else None, seed=1)
    model.fit(data)
    acc = float((model.predict(test).argmax(1) == truth).mean())
    assert acc > 2.0 / len(data.classes), f"{name}: {acc:.3f}"
