"""A tiny synthetic feature-level task for tests and quick model experiments.

No images and no backbone: a deterministic "text encoder" maps each word to a
hash-seeded random vector and a prompt to the normalised sum of its word
vectors; every class has a few concept phrases; an image feature of class k is
the normalised sum of its class's concept embeddings plus a view shift (web vs
aerial) and noise (more for aerial). So zero-shot and concept models carry real
signal, the views differ, and every model trains in well under a second.
"""

from __future__ import annotations

import hashlib
import re

import torch
import torch.nn.functional as F

from web2sky_bench.models.base import Split, TaskData

_WORDS = [f"w{i}" for i in range(48)]


def hash_text_encoder(dim: int):
    """A deterministic text encoder: prompt -> normalised sum of hash-seeded word vectors."""
    cache: dict[str, torch.Tensor] = {}

    def word(w: str) -> torch.Tensor:
        if w not in cache:
            seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
            cache[w] = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
        return cache[w]

    def encode(prompts: list[str]) -> torch.Tensor:
        rows = []
        for p in prompts:
            words = re.findall(r"[a-z0-9]+", p.lower()) or ["<empty>"]
            rows.append(torch.stack([word(w) for w in words]).sum(0))
        return F.normalize(torch.stack(rows), dim=1)

    return encode


def toy_task(
    n_classes: int = 8,
    dim: int = 64,
    shots: int = 4,
    web_per_class: int = 30,
    val_per_class: int = 10,
    test_per_class: int = 20,
    concepts_per_class: int = 6,
    web_noise: float = 0.8,
    aerial_noise: float = 1.4,
    shift: float = 1.0,
    seed: int = 0,
) -> tuple[TaskData, Split]:
    """A (TaskData, aerial test Split) pair; same arguments -> same tensors."""
    g = torch.Generator().manual_seed(seed)
    encode = hash_text_encoder(dim)
    classes = [f"toy{k}" for k in range(n_classes)]
    concepts = {}
    for k, cls in enumerate(classes):
        picks = torch.randperm(len(_WORDS), generator=g)[: 2 * concepts_per_class].tolist()
        concepts[cls] = [f"{_WORDS[picks[2 * j]]} {_WORDS[picks[2 * j + 1]]}" for j in range(concepts_per_class)]
    centres = torch.stack([encode(concepts[c]).sum(0) for c in classes])
    centres = F.normalize(centres + 1.5 * encode(classes), dim=1) * 2.0
    shifts = {"web": torch.randn(dim, generator=g), "aerial": torch.randn(dim, generator=g)}
    shifts = {v: shift * 2.0 * F.normalize(s, dim=0) for v, s in shifts.items()}
    noise = {"web": web_noise, "aerial": aerial_noise}

    def split(view: str, per_class: int, name: str) -> Split:
        labels = torch.arange(n_classes).repeat_interleave(per_class)
        x = centres[labels] + shifts[view] + noise[view] * 2.0 * torch.randn(len(labels), dim, generator=g) / dim**0.5 * 4
        ids = [f"{name}-{i}" for i in range(len(labels))]
        return Split(F.normalize(x, dim=1), labels, ids)

    data = TaskData(
        classes=classes,
        class_names=classes,
        concepts=concepts,
        web_train=split("web", web_per_class, "web"),
        aerial_train=split("aerial", shots, "aerial-train"),
        aerial_val=split("aerial", val_per_class, "aerial-val"),
        encode_text=encode,
    )
    return data, split("aerial", test_per_class, "aerial-test")
