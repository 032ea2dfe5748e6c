"""synth-clip: the committed checkpoint, open_clip loading, zero-shot sanity and the trainer."""

from __future__ import annotations

import re

import numpy as np
import open_clip
import pytest
import torch
from click.testing import CliRunner

from web2sky_bench.cli import main
from web2sky_bench.manifest import file_sha256
from web2sky_bench.synth.categories import CATEGORIES, class_prompt
from web2sky_bench.synth.dataset import SIZES, render_item
from web2sky_bench.synth.vlm import (
    CONFIG_DIR,
    MODEL_NAME,
    WEIGHTS_PATH,
    load_synth_clip,
    register_synth_clip,
    train_synth_clip,
)

README = WEIGHTS_PATH.parent / "README.md"


def test_checkpoint_matches_its_recorded_sha256_and_size():
    recorded = re.search(r"sha256[:\s`]+([0-9a-f]{64})", README.read_text()).group(1)
    assert file_sha256(WEIGHTS_PATH) == recorded
    assert WEIGHTS_PATH.stat().st_size <= 20 * 1024 * 1024


def test_loads_through_open_clips_normal_path_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name, ckpt = register_synth_clip()
    assert name == MODEL_NAME == "synth-clip" and ckpt == WEIGHTS_PATH
    assert name in open_clip.list_models()
    model, _, _preprocess = open_clip.create_model_and_transforms(name, pretrained=str(ckpt))
    tokenizer = open_clip.get_tokenizer(name)
    with torch.no_grad():
        text = model.encode_text(tokenizer(["a photo of a twinjet airliner."]))
    assert text.shape == (1, 128) and torch.isfinite(text).all()
    assert (CONFIG_DIR / "synth-clip.json").is_file()
    # the checkpoint really is the trained one, not a random init
    fresh = open_clip.create_model(name)
    loaded = dict(model.state_dict())
    assert any(not torch.allclose(v.float(), loaded[k].float()) for k, v in fresh.state_dict().items()
               if v.is_floating_point())


@pytest.fixture(scope="module")
def held_out_features():
    """Features of benchmark test-split renders (seed 0) and the class-prompt features."""
    torch.set_num_threads(1)
    model, preprocess, tokenizer = load_synth_clip()
    web_test_start = SIZES["mini"].web[0] + SIZES["mini"].web[1]
    aerial_test_start = SIZES["mini"].aerial[0] + SIZES["mini"].aerial[1]
    out = {}
    with torch.no_grad():
        for view, start in (("web", web_test_start), ("aerial", aerial_test_start)):
            images, labels = [], []
            for ci in range(len(CATEGORIES)):
                for i in range(start, start + 3):
                    image, _, _ = render_item(0, "bench", ci, view, i)
                    images.append(preprocess(image))
                    labels.append(ci)
            img = torch.nn.functional.normalize(model.encode_image(torch.stack(images)), dim=-1)
            txt = model.encode_text(tokenizer([class_prompt(c, view) for c in CATEGORIES]))
            txt = torch.nn.functional.normalize(txt, dim=-1)
            out[view] = (img @ txt.T).argmax(1).numpy(), np.array(labels)
    return out


@pytest.mark.parametrize("view,factor", [("web", 3.0), ("aerial", 1.5)])
def test_zero_shot_beats_chance_on_benchmark_test_images(held_out_features, view, factor):
    pred, labels = held_out_features[view]
    chance = 1 / len(CATEGORIES)
    assert (pred == labels).mean() >= factor * chance


def test_trainer_is_seeded_and_writes_a_loadable_checkpoint(tmp_path):
    a = train_synth_clip(out=tmp_path / "a.pt", web=1, aerial=1, epochs=1, batch_size=16, workers=1, quiet=True)
    result = CliRunner().invoke(main, ["synth", "train-vlm", "--out", str(tmp_path / "b.pt"), "--web", "1",
                                       "--aerial", "1", "--epochs", "1", "--batch-size", "16", "-q"])
    assert result.exit_code == 0, result.output
    assert a["sha256"] in result.output
    assert file_sha256(tmp_path / "b.pt") == a["sha256"]  # same seed, same bytes, whatever the file name
    assert a["images"] == 2 * len(CATEGORIES) and a["namespace"] == "vlm"
    model, _, _ = load_synth_clip(tmp_path / "a.pt")
    assert sum(p.numel() for p in model.parameters()) > 0
