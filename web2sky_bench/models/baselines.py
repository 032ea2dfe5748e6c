"""Baselines: zero-shot CLIP, concept descriptors, linear probe, trained heads, Tip-Adapter-F.

* ``zeroshot``: prompt-ensemble text classifier (no training).
* ``zeroshot-descriptors``: Menon & Vondrick, a class scores the mean cosine of
  "{class}, which has {concept}" texts over its concepts (no training).
* ``linear-probe``: L2-regularised logistic regression on aerial features, the
  regularisation strength chosen on aerial val.
* ``aerial-only`` / ``joint``: the shared adapter + cosine head trained with
  cross-entropy on aerial images only / on web and aerial images.
* ``tip-adapter-f``: Tip-Adapter-F (Zhang et al. 2022): a trainable key cache
  over the training features added to the zero-shot logits.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from web2sky_bench.models.base import Model, Split, TaskData
from web2sky_bench.models.heads import HEAD_DEFAULTS, PROMPT_TEMPLATES, EncoderHead, class_text_weights
from web2sky_bench.models.train import TRAIN_DEFAULTS, Batch, TrainableModel, accuracy


def _softmax_np(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), dim=1).cpu().numpy()


class ZeroShot(Model):
    """Zero-shot CLIP with a prompt ensemble; ignores all training images."""

    name = "zeroshot"
    description = "zero-shot CLIP: prompt-ensemble text classifier, no training"
    default_config: ClassVar[dict[str, Any]] = {
        "templates": list(PROMPT_TEMPLATES),  # "{}" is replaced by the class name
        "logit_scale": 100.0,  # CLIP's temperature
    }

    def fit(self, data: TaskData) -> None:
        """Embed the prompts of every class once."""
        self.device = data.device
        self.weights = class_text_weights(data, tuple(self.config["templates"]))

    @torch.no_grad()
    def predict(self, aerial: Split) -> np.ndarray:
        """Softmax of scaled cosine similarities to the class text weights."""
        x = F.normalize(aerial.features.float().to(self.device), dim=1)
        return _softmax_np(self.config["logit_scale"] * x @ self.weights.T)


class ZeroShotDescriptors(Model):
    """Menon & Vondrick: mean cosine over "{class}, which has {concept}" descriptors."""

    name = "zeroshot-descriptors"
    description = "zero-shot with concept descriptors (Menon & Vondrick): mean cosine over '{class}, which has {concept}'"
    default_config: ClassVar[dict[str, Any]] = {
        "template": "a photo of a {name}, which has {concept}.",
        "logit_scale": 100.0,
    }

    def fit(self, data: TaskData) -> None:
        """Embed every class's descriptors (classes without concepts use the prompt ensemble)."""
        self.device = data.device
        fallback = class_text_weights(data)
        self.descriptors: list[torch.Tensor] = []
        for k, (cls, name) in enumerate(zip(data.classes, data.class_names)):
            concepts = data.concepts.get(cls) or []
            if concepts:
                texts = [self.config["template"].format(name=name, concept=c) for c in concepts]
                self.descriptors.append(data.encode_text(texts).float().to(data.device))
            else:
                self.descriptors.append(fallback[k : k + 1])

    @torch.no_grad()
    def predict(self, aerial: Split) -> np.ndarray:
        """Softmax over classes of the mean descriptor cosine similarity."""
        x = F.normalize(aerial.features.float().to(self.device), dim=1)
        scores = torch.stack([(x @ F.normalize(d, dim=1).T).mean(1) for d in self.descriptors], 1)
        return _softmax_np(self.config["logit_scale"] * scores)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, n_classes: int, weight_decay: float,
                 max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression with an L2 penalty, full-batch L-BFGS from zero."""
    w = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + weight_decay * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


class LinearProbe(Model):
    """Logistic regression on aerial features; weight decay chosen on aerial val."""

    name = "linear-probe"
    description = "linear probe: logistic regression on aerial features, weight decay chosen on val"
    default_config: ClassVar[dict[str, Any]] = {
        "weight_decays": [1e-1, 1e-2, 1e-3, 1e-4],  # L2 penalties tried (features scaled by sqrt(d))
        "max_iter": 200,  # L-BFGS iterations
    }

    def _x(self, split: Split) -> torch.Tensor:
        x = split.features.float().cpu()
        return x * x.shape[1] ** 0.5

    def fit(self, data: TaskData) -> None:
        """Fit one probe per weight decay on aerial_train; keep the best on aerial_val (ties: stronger)."""
        k = len(data.classes)
        x, y = self._x(data.aerial_train), data.aerial_train.labels.long().cpu()
        val = data.aerial_val
        best_acc = -1.0
        for wd in sorted(self.config["weight_decays"], reverse=True):
            w, b = fit_logistic(x, y, k, float(wd), int(self.config["max_iter"]))
            acc = accuracy(self._x(val) @ w + b, val.labels.cpu()) if val.labels is not None and len(val) else 0.0
            if acc > best_acc:
                best_acc, self.weight_decay, self.w, self.b = acc, float(wd), w, b

    @torch.no_grad()
    def predict(self, aerial: Split) -> np.ndarray:
        """Softmax of the probe's logits."""
        return _softmax_np(self._x(aerial) @ self.w + self.b)


class AerialOnly(TrainableModel):
    """Adapter + cosine head trained with cross-entropy on aerial images only."""

    name = "aerial-only"
    description = "adapter + cosine head trained on the k aerial shots only (no web images)"
    uses_web = False
    default_config: ClassVar[dict[str, Any]] = {**TRAIN_DEFAULTS, **HEAD_DEFAULTS}

    def build(self, data: TaskData) -> nn.Module:
        c = self.config
        return EncoderHead(data, c["hidden"], c["dropout"], c["logit_scale"])

    def loss(self, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(self.module(batch.aerial_x), batch.aerial_y)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.module(features)


class Joint(AerialOnly):
    """Adapter + cosine head trained with cross-entropy on web and aerial images together."""

    name = "joint"
    description = "adapter + cosine head trained on web and aerial images together (no alignment)"
    uses_web = True

    def loss(self, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(self.module(batch.web_x), batch.web_y) + F.cross_entropy(
            self.module(batch.aerial_x), batch.aerial_y
        )


class _TipModule(nn.Module):
    def __init__(self, text: torch.Tensor, keys: torch.Tensor, labels: torch.Tensor, k: int) -> None:
        super().__init__()
        self.register_buffer("text", text)
        self.keys = nn.Parameter(F.normalize(keys.float(), dim=1).clone())
        self.register_buffer("values", F.one_hot(labels, k).float())

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.normalize(x, dim=1)
        return 100.0 * x @ self.text.T, x @ self.keys.T


class TipAdapterF(TrainableModel):
    """Tip-Adapter-F: zero-shot logits + alpha * exp(-beta (1 - x.K)) L with trainable keys K."""

    name = "tip-adapter-f"
    description = "Tip-Adapter-F: trainable feature cache over the training images added to zero-shot logits"
    default_config: ClassVar[dict[str, Any]] = {
        **TRAIN_DEFAULTS,
        "epochs": 20,
        "batch_size": 256,
        "lr": 1e-3,
        "weight_decay": 0.01,
        "alpha": 1.0,  # cache residual weight
        "beta": 5.5,  # cache sharpness
        "cache": "aerial",  # "aerial": the k aerial shots (the paper's few-shot cache); "both": web + aerial images
        "search": True,  # after training, pick alpha/beta on aerial val from a small grid
    }

    def build(self, data: TaskData) -> nn.Module:
        use_web = self.config["cache"] == "both"
        self.uses_web = use_web
        parts = [data.aerial_train] + ([data.web_train] if use_web else [])
        keys = torch.cat([p.features.float() for p in parts]).to(data.device)
        labels = torch.cat([p.labels.long() for p in parts]).to(data.device)
        self.alpha, self.beta = float(self.config["alpha"]), float(self.config["beta"])
        return _TipModule(class_text_weights(data), keys, labels, len(data.classes))

    def _combine(self, zs: torch.Tensor, aff: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
        return zs + alpha * torch.exp(-beta * (1 - aff)) @ self.module.values

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        zs, aff = self.module.parts(features)
        return self._combine(zs, aff, self.alpha, self.beta)

    def loss(self, batch: Batch) -> torch.Tensor:
        x = torch.cat([batch.web_x, batch.aerial_x])
        y = torch.cat([batch.web_y, batch.aerial_y])
        return F.cross_entropy(self.logits(x), y)

    def fit(self, data: TaskData) -> None:
        """Train the keys with the shared loop, then (optionally) search alpha/beta on aerial val."""
        super().fit(data)
        val = data.aerial_val
        if not self.config["search"] or val.labels is None or len(val) == 0:
            return
        with torch.no_grad():
            zs, aff = self.module.parts(val.features.float().to(self.device))
            labels = val.labels.long().to(self.device)
            best = (accuracy(self._combine(zs, aff, self.alpha, self.beta), labels), self.alpha, self.beta)
            for alpha in (0.1, 0.5, 1.0, 2.0, 5.0, 10.0):
                for beta in (1.0, 3.0, 5.5, 8.0, 12.0):
                    acc = accuracy(self._combine(zs, aff, alpha, beta), labels)
                    if acc > best[0]:
                        best = (acc, alpha, beta)
        _, self.alpha, self.beta = best
