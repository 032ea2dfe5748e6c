"""Backbones: open_clip loading by tag, checkpoint or random init; offline errors; cache keys."""

from __future__ import annotations

import sys
import time
import types

import pytest
import torch
from PIL import Image
from tiny_clip import TINY_NAME, register_tiny_clip, save_tiny_checkpoint

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import write_json
from web2sky_bench.models import backbones
from web2sky_bench.models.backbones import load_backbone


@pytest.fixture
def tiny_ckpt(tmp_path):
    return save_tiny_checkpoint(tmp_path / "tiny", seed=0)


def test_checkpoint_backbone_encodes_normalised_float32(tiny_ckpt):
    bb = load_backbone(TINY_NAME, tiny_ckpt, device="auto")
    assert bb.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert bb.name == TINY_NAME and bb.pretrained == str(tiny_ckpt)
    text = bb.encode_text(["a jet with swept wings", "a ship", "x"] * 100)  # > one text batch
    assert text.shape == (300, 32) and text.dtype == torch.float32
    assert torch.allclose(text.norm(dim=1), torch.ones(300), atol=1e-5)
    assert torch.allclose(text[0], text[3])
    batch = torch.stack([bb.preprocess(Image.new("RGB", (40, 30), c)) for c in ("red", "blue")])
    img = bb.encode_images(batch)
    assert img.shape == (2, 32) and img.dtype == torch.float32
    assert torch.allclose(img.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(img[0], img[1])


def test_key_identifies_weights_and_preprocessing(tmp_path, tiny_ckpt):
    a = load_backbone(TINY_NAME, tiny_ckpt)
    b = load_backbone(TINY_NAME, str(tiny_ckpt))
    other = load_backbone(TINY_NAME, save_tiny_checkpoint(tmp_path / "tiny", seed=1))
    assert a.key == b.key
    assert backbones.checkpoint_sha256(tiny_ckpt) in a.key
    assert "Normalize(mean=" in a.key and "0x" not in a.key
    assert other.key != a.key
    assert torch.equal(a.encode_text(["b-52"]), b.encode_text(["b-52"]))
    assert not torch.equal(a.encode_text(["b-52"]), other.encode_text(["b-52"]))


def test_random_init_is_seeded_and_keyed_by_its_weights(tmp_path):
    register_tiny_clip(tmp_path)
    torch.manual_seed(3)
    first_draw = torch.rand(1)
    torch.manual_seed(3)
    a = load_backbone(TINY_NAME, "random")
    assert torch.equal(torch.rand(1), first_draw)  # the caller's RNG stream is not consumed
    b = load_backbone(TINY_NAME, "random")
    torch.manual_seed(4)
    c = load_backbone(TINY_NAME, "random")
    assert a.key.startswith(f"{TINY_NAME}|random:") and a.key == b.key == c.key
    assert torch.equal(a.encode_text(["x"]), c.encode_text(["x"]))
    ckpt = save_tiny_checkpoint(tmp_path, seed=1)
    assert load_backbone(TINY_NAME, ckpt).key != a.key


def test_offline_tag_fails_fast_with_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(Web2SkyError, match=r"pretrained tag 'openai' for ViT-B-16 needs a download; HF_HUB_OFFLINE=1"):
        load_backbone("ViT-B-16", "openai")
    assert time.perf_counter() - t0 < 5
    with pytest.raises(Web2SkyError, match="--pretrained /path/to/checkpoint.pt"):
        load_backbone("ViT-B-16")  # default tag of the model: openai


def test_unreachable_hub_fails_fast_without_offline_flag(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # closed port: connection refused
    t0 = time.perf_counter()
    with pytest.raises(Web2SkyError, match=r"'openai' for RN50 needs a download.*http://127.0.0.1:9 cannot be reached"):
        load_backbone("RN50", "openai")
    assert time.perf_counter() - t0 < 5


def test_real_dataset_defaults_to_vit_b_16_openai(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_json(tmp_path / "dataset.json", {"name": "web2sky-aircraft", "version": "1"})
    with pytest.raises(Web2SkyError, match="'openai' for ViT-B-16"):
        load_backbone(dataset_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "pretrained", "message"),
    [
        ("ViT-B-16", "not-a-tag", "unknown pretrained tag 'not-a-tag' for ViT-B-16; known tags: .*openai"),
        ("ViT-B-16", "/nowhere/ckpt.pt", "checkpoint file not found: /nowhere/ckpt.pt"),
        ("ViT-B-61", "openai", "unknown open_clip model 'ViT-B-61'; closest: .*ViT-B-16"),
    ],
)
def test_bad_names_are_user_errors(name, pretrained, message):
    with pytest.raises(Web2SkyError, match=message):
        load_backbone(name, pretrained)


def test_model_without_tags_needs_explicit_weights(tmp_path):
    register_tiny_clip(tmp_path)
    with pytest.raises(Web2SkyError, match="has no pretrained tags"):
        load_backbone(TINY_NAME)


def test_cuda_without_gpu_is_a_user_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(Web2SkyError, match="CUDA is not available"):
        backbones.resolve_device("cuda")


def test_synth_dataset_defaults_to_synth_clip(tmp_path, monkeypatch):
    ckpt = save_tiny_checkpoint(tmp_path / "tiny", seed=5)
    calls = []

    def register_synth_clip():
        calls.append(1)
        return TINY_NAME, ckpt

    if "web2sky_bench.synth" not in sys.modules:
        try:
            import web2sky_bench.synth  # noqa: F401
        except ImportError:
            monkeypatch.setitem(sys.modules, "web2sky_bench.synth", types.ModuleType("web2sky_bench.synth"))
    fake = types.ModuleType("web2sky_bench.synth.vlm")
    fake.register_synth_clip = register_synth_clip
    monkeypatch.setitem(sys.modules, "web2sky_bench.synth.vlm", fake)
    write_json(tmp_path / "dataset.json", {"name": "web2sky-synth-mini", "version": "1"})
    bb = load_backbone(dataset_dir=tmp_path)
    assert calls and bb.name == TINY_NAME and bb.pretrained == str(ckpt)
    assert backbones.checkpoint_sha256(ckpt) in bb.key


def test_local_dir_model_loads_its_own_weights(tmp_path):
    import json

    import open_clip
    from tiny_clip import TINY_CONFIG

    folder = tmp_path / "my-clip"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CONFIG}))
    register_tiny_clip(tmp_path / "cfg")
    torch.manual_seed(9)
    ref = open_clip.create_model(TINY_NAME)
    torch.save(ref.state_dict(), folder / "open_clip_pytorch_model.bin")
    bb = load_backbone(f"local-dir:{folder}")
    assert bb.pretrained == "local-dir" and bb.key.split("|")[1].startswith("local-dir:")
    tokens = open_clip.get_tokenizer(TINY_NAME)(["a ship"])
    expected = torch.nn.functional.normalize(ref.eval().encode_text(tokens), dim=-1)
    assert torch.allclose(bb.encode_text(["a ship"]), expected.detach(), atol=1e-5)


def test_real_synth_clip_config_is_registered_on_demand():
    bb = load_backbone("synth-clip", "random")
    assert bb.name == "synth-clip" and bb.pretrained == "random"
    assert bb.encode_text(["a twinjet airliner"]).shape == (1, bb.dim)
