"""A tiny open_clip config for fast tests: real open_clip code, random or saved weights."""

from __future__ import annotations

import json
from pathlib import Path

TINY_NAME = "web2sky-tiny-test"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def register_tiny_clip(folder: Path) -> str:
    """Write the tiny config JSON under ``folder`` and register it with open_clip."""
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TINY_NAME}.json"
    path.write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
    open_clip.add_model_config(path)
    return TINY_NAME


def save_tiny_checkpoint(folder: Path, seed: int = 0) -> Path:
    """Save a seeded random tiny model's state dict; returns the checkpoint path."""
    import open_clip
    import torch

    register_tiny_clip(folder)
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_NAME, pretrained=None)
    path = folder / f"tiny-{seed}.pt"
    torch.save(model.state_dict(), path)
    return path
