"""Building blocks shared by the trained models: prompts, the adapter encoder, the head.

Every trained baseline, every CVA model and CCA's visual branch use the same
:class:`Adapter` (a residual MLP over frozen features, zero-initialised so it
starts as the identity) and the same :class:`CosineHead` (initialised from the
zero-shot text classifier), so that differences between them come from their
losses, not from their architectures.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from web2sky_bench.models.base import TaskData

PROMPT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "an aerial photo of a {}.",
    "a satellite image of a {}.",
    "an aerial view of a {}.",
    "a low resolution overhead image of a {}.",
    "a photo of the {}, seen from above.",
)
"""Prompt ensemble of the zero-shot classifier (CLIP style)."""


def class_text_weights(data: TaskData, templates: tuple[str, ...] = PROMPT_TEMPLATES) -> torch.Tensor:
    """(K, d) L2-normalised zero-shot class weights: the mean embedding of every template."""
    rows = []
    for name in data.class_names:
        emb = data.encode_text([t.format(name) for t in templates]).float()
        rows.append(F.normalize(emb.mean(0), dim=0))
    return torch.stack(rows).to(data.device)


def feature_dim(data: TaskData) -> int:
    """Dimension d of the frozen image features."""
    for split in (data.aerial_train, data.web_train, data.aerial_val):
        if len(split):
            return int(split.features.shape[1])
    raise ValueError("TaskData holds no features")


class Adapter(nn.Module):
    """z = normalize(x + MLP(x)); the MLP's last layer is zero-initialised (identity at start)."""

    def __init__(self, dim: int, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x + self.mlp(x), dim=-1)


class CosineHead(nn.Module):
    """logits = scale * cos(z, W_k), W initialised from the zero-shot text weights."""

    def __init__(self, weights: torch.Tensor, scale: float = 30.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(weights.clone().float())
        self.scale = scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(z, dim=-1) @ F.normalize(self.weight, dim=-1).T


class EncoderHead(nn.Module):
    """The shared encoder (adapter) + head every trained baseline and CVA model uses."""

    def __init__(self, data: TaskData, hidden: int, dropout: float, scale: float) -> None:
        super().__init__()
        self.encoder = Adapter(feature_dim(data), hidden, dropout)
        self.head = CosineHead(class_text_weights(data), scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


HEAD_DEFAULTS = {
    "hidden": 256,  # adapter MLP width
    "dropout": 0.1,  # adapter dropout
    "logit_scale": 30.0,  # cosine-head temperature (fixed)
}
