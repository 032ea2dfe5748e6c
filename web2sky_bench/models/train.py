"""One shared, seeded training loop for every trainable model.

A trainable model subclasses :class:`TrainableModel` and provides three hooks:

* :meth:`TrainableModel.build` returns the ``nn.Module`` holding every trainable
  parameter (built after seeding, so initialisation is reproducible);
* :meth:`TrainableModel.loss` maps a :class:`Batch` (a web batch and an aerial
  batch, drawn independently: the views are not paired) to a scalar loss;
* :meth:`TrainableModel.logits` maps aerial features to class logits (used for
  model selection on ``aerial_val`` and for :meth:`~Model.predict`).

:func:`fit_loop` then runs AdamW for ``epochs`` epochs of
``max(ceil(n / batch_size), min_steps)`` steps (n: the larger used view),
evaluates aerial-val accuracy before training (epoch 0: the untrained model,
for the shared head the zero-shot classifier) and after every epoch, keeps the
best weights (earliest epoch on ties) and stops after ``patience`` epochs
without improvement. Test data never enters.
"""

from __future__ import annotations

import copy
import math
import random
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.models.base import Model, Split, TaskData

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 30,  # passes over the larger of the used training views
    "batch_size": 64,  # per view
    "lr": 1e-3,  # AdamW learning rate
    "weight_decay": 1e-4,  # AdamW weight decay
    "patience": 8,  # epochs without aerial-val improvement before stopping
    "min_steps": 20,  # at least this many steps per epoch (k = 1 has only K aerial images)
}


@dataclass
class Batch:
    """One optimisation step's data: independent web and aerial mini-batches.

    ``web_x``/``web_y`` are empty (0 rows) when the model does not use web data.
    ``progress`` runs from 0 to 1 over the whole run (for schedules such as DANN's).
    """

    web_x: torch.Tensor
    web_y: torch.Tensor
    aerial_x: torch.Tensor
    aerial_y: torch.Tensor
    progress: float


@dataclass
class TrainResult:
    """What :func:`fit_loop` did: best epoch (0 = untrained), its val accuracy, per-epoch history."""

    best_epoch: int
    best_val_accuracy: float
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that a run is repeatable."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``logits`` against ``labels`` (0.0 for an empty set)."""
    if len(labels) == 0:
        return 0.0
    return float((logits.argmax(1) == labels).float().mean())


class _Cycler:
    """Endless mini-batches of row indices, reshuffled by a seeded generator each pass."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, min(batch_size, n), generator
        self.order = torch.randperm(n, generator=generator)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch_size > self.n:
            self.order = torch.randperm(self.n, generator=self.generator)
            self.pos = 0
        idx = self.order[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx


def _labelled(split: Split, what: str, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    if split.labels is None:
        raise Web2SkyError(f"{what} has no labels; training needs labelled {what}")
    return split.features.float().to(device), split.labels.long().to(device)


def fit_loop(
    module: nn.Module,
    loss_fn,
    logits_fn,
    data: TaskData,
    config: dict[str, Any],
    seed: int,
    use_web: bool = True,
) -> TrainResult:
    """Train ``module`` with AdamW and select the epoch with the best aerial-val accuracy.

    ``loss_fn(batch) -> scalar`` and ``logits_fn(features) -> logits`` are the
    model's hooks. On return ``module`` holds the selected weights and is in
    eval mode. Deterministic for a given ``seed`` on a given device.
    """
    device = data.device
    aerial_x, aerial_y = _labelled(data.aerial_train, "aerial_train", device)
    if use_web:
        web_x, web_y = _labelled(data.web_train, "web_train", device)
    else:
        web_x = aerial_x.new_zeros((0, aerial_x.shape[1]))
        web_y = aerial_y.new_zeros((0,))
    if len(aerial_x) == 0 and len(web_x) == 0:
        raise Web2SkyError("no training images: both web_train and aerial_train are empty")
    val_x, val_y = (data.aerial_val.features.float().to(device), data.aerial_val.labels)
    val_y = val_y.long().to(device) if val_y is not None else None

    bs = int(config["batch_size"])
    generator = torch.Generator().manual_seed(seed)
    web_c = _Cycler(len(web_x), bs, generator) if len(web_x) else None
    aer_c = _Cycler(len(aerial_x), bs, generator) if len(aerial_x) else None
    steps = max(math.ceil(max(len(web_x), len(aerial_x)) / bs), int(config["min_steps"]))
    epochs = int(config["epochs"])
    total = max(1, steps * epochs)

    params = [p for p in module.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=float(config["lr"]), weight_decay=float(config["weight_decay"]))
    empty = aerial_x[:0]
    has_val = val_y is not None and len(val_y) > 0

    def val_accuracy() -> float:
        module.eval()
        with torch.no_grad():
            return accuracy(logits_fn(val_x), val_y) if has_val else 0.0

    # epoch 0 = the untrained model (for the shared head: the zero-shot classifier)
    best = TrainResult(best_epoch=0, best_val_accuracy=val_accuracy())
    best.history.append({"epoch": 0, "loss": float("nan"), "val_accuracy": best.best_val_accuracy})
    best_state = copy.deepcopy(module.state_dict())
    since_best = 0
    for epoch in range(1, epochs + 1):
        module.train()
        running = 0.0
        for step in range(steps):
            wi = web_c.next() if web_c else None
            ai = aer_c.next() if aer_c else None
            batch = Batch(
                web_x=web_x[wi] if wi is not None else empty,
                web_y=web_y[wi] if wi is not None else aerial_y[:0],
                aerial_x=aerial_x[ai] if ai is not None else empty,
                aerial_y=aerial_y[ai] if ai is not None else aerial_y[:0],
                progress=((epoch - 1) * steps + step) / total,
            )
            loss = loss_fn(batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            running += float(loss.detach())
        val_acc = val_accuracy()
        best.history.append({"epoch": epoch, "loss": running / steps, "val_accuracy": val_acc})
        if val_acc > best.best_val_accuracy or not has_val:
            best.best_epoch, best.best_val_accuracy = epoch, val_acc
            best_state = copy.deepcopy(module.state_dict())
            since_best = 0
        else:
            since_best += 1
            if since_best >= int(config["patience"]):
                break
    module.load_state_dict(best_state)
    module.eval()
    return best


class TrainableModel(Model):
    """A model trained by :func:`fit_loop`; subclasses implement build/loss/logits.

    ``default_config`` of a subclass should start from ``TRAIN_DEFAULTS``.
    ``uses_web`` = False trains on aerial images only.
    """

    uses_web: ClassVar[bool] = True
    default_config: ClassVar[dict[str, Any]] = dict(TRAIN_DEFAULTS)

    @abstractmethod
    def build(self, data: TaskData) -> nn.Module:
        """Create every trainable parameter (called after seeding)."""

    @abstractmethod
    def loss(self, batch: Batch) -> torch.Tensor:
        """The training loss of one step."""

    @abstractmethod
    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class logits of aerial ``features`` (n, d) -> (n, K)."""

    def fit(self, data: TaskData) -> None:
        """Seed, build the module, run the shared loop; keeps the selected weights."""
        seed_everything(self.seed)
        self.device = data.device
        self.module = self.build(data).to(data.device)
        self.train_result = fit_loop(
            self.module, self.loss, self.logits, data, self.config, self.seed, use_web=self.uses_web
        )

    @torch.no_grad()
    def predict(self, aerial: Split) -> np.ndarray:
        """Softmax of :meth:`logits` over the aerial images, as float64 rows summing to 1."""
        self.module.eval()
        logits = self.logits(aerial.features.float().to(self.device))
        return torch.softmax(logits.double(), dim=1).cpu().numpy()
