"""The one model contract every baseline, CVA and CCA model implements.

Models see frozen backbone features, not pixels, by default: the harness
encodes every image once (content-addressed feature cache) and hands each
model a :class:`TaskData`. A model learns in :meth:`Model.fit` and returns
class probabilities for aerial images in :meth:`Model.predict`. Hyperparameters
are chosen on ``aerial_val`` only; test data never reaches ``fit``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch


@dataclass
class Split:
    """Features of one set of images.

    ``features``: (n, d) float32, L2-normalised image embeddings of the frozen
    backbone; ``labels``: (n,) int64 indices into ``TaskData.classes`` (None when
    unlabelled); ``image_ids``: the manifest ids, in row order.
    """

    features: torch.Tensor
    labels: torch.Tensor | None
    image_ids: list[str]

    def __len__(self) -> int:
        return len(self.image_ids)


@dataclass
class TaskData:
    """Everything a model may use to train on one (track, k, seed) run."""

    classes: list[str]
    class_names: list[str]
    concepts: dict[str, list[str]]
    web_train: Split
    aerial_train: Split
    aerial_val: Split
    encode_text: Callable[[list[str]], torch.Tensor]
    """Frozen text encoder: prompts -> (m, d) L2-normalised float32 features."""
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)


class Model(ABC):
    """Base class: set ``name`` and ``description``, implement ``fit`` and ``predict``."""

    name: ClassVar[str]
    description: ClassVar[str]
    default_config: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: dict[str, Any] | None = None, seed: int = 0) -> None:
        unknown = set(config or {}) - set(self.default_config)
        if unknown:
            from web2sky_bench.errors import Web2SkyError

            raise Web2SkyError(
                f"model {self.name!r} has no option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(self.default_config)) or 'none'}"
            )
        self.config = {**self.default_config, **(config or {})}
        self.seed = seed

    @abstractmethod
    def fit(self, data: TaskData) -> None:
        """Train on ``data`` (web_train, aerial_train; aerial_val for selection)."""

    @abstractmethod
    def predict(self, aerial: Split) -> np.ndarray:
        """Class probabilities, shape (len(aerial), len(classes)), rows summing to 1."""
