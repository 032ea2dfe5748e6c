"""Classification metrics of the web2sky-v1 protocol.

All functions take label sequences (category ids or ints) of equal length.
Definitions follow scikit-learn so numbers are comparable with other papers:

* top-1 accuracy: ``accuracy_score``;
* mean per-class accuracy: mean recall over the classes present in ``y_true``
  (``balanced_accuracy_score``);
* macro-F1: unweighted mean F1 over the classes present in ``y_true`` or
  ``y_pred`` (``f1_score(average="macro", zero_division=0)``);
* confusion matrix: rows = true class, columns = predicted class, in ``labels`` order;
* bootstrap CI: percentile interval of a metric over resampled test images
  (same resampling as ``scipy.stats.bootstrap(paired=True, method="percentile")``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from web2sky_bench.errors import Web2SkyError

Labels = Sequence[Any] | np.ndarray


def _arrays(y_true: Labels, y_pred: Labels) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise Web2SkyError(f"y_true and y_pred must be 1-d and equal length, got {t.shape} and {p.shape}")
    if t.size == 0:
        raise Web2SkyError("cannot score an empty set of predictions")
    return t, p


def accuracy(y_true: Labels, y_pred: Labels) -> float:
    """Top-1 accuracy: the fraction of exact matches."""
    t, p = _arrays(y_true, y_pred)
    return float(np.mean(t == p))


def per_class_accuracy(y_true: Labels, y_pred: Labels, labels: Sequence[Any] | None = None) -> dict[Any, float]:
    """Recall of each class present in ``y_true`` (``labels`` fixes order and subset)."""
    t, p = _arrays(y_true, y_pred)
    present = np.unique(t).tolist()
    seen = set(present)
    order = [c for c in labels if c in seen] if labels is not None else present
    return {c: float(np.mean(p[t == c] == c)) for c in order}


def mean_per_class_accuracy(y_true: Labels, y_pred: Labels) -> float:
    """Mean of per-class recall over the classes present in ``y_true``."""
    return float(np.mean(list(per_class_accuracy(y_true, y_pred).values())))


def macro_f1(y_true: Labels, y_pred: Labels) -> float:
    """Unweighted mean F1 over classes seen in ``y_true`` or ``y_pred`` (0 when undefined)."""
    t, p = _arrays(y_true, y_pred)
    scores = []
    for c in np.unique(np.concatenate([t, p])):
        tp = float(np.sum((t == c) & (p == c)))
        fp = float(np.sum((t != c) & (p == c)))
        fn = float(np.sum((t == c) & (p != c)))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def group_accuracy(y_true: Labels, y_pred: Labels, group_of: Mapping[Any, str]) -> dict[str, float]:
    """Top-1 accuracy within each group of true classes (e.g. super-category or family).

    A prediction counts as correct only when it is the exact class, so this is
    the accuracy on the images whose *true* class belongs to the group.
    """
    t, p = _arrays(y_true, y_pred)
    missing = sorted({str(c) for c in np.unique(t)} - {str(c) for c in group_of})
    if missing:
        raise Web2SkyError(f"no group known for class(es) {', '.join(missing)}")
    groups = np.array([group_of[c] for c in t.tolist()])
    return {g: float(np.mean(t[groups == g] == p[groups == g])) for g in sorted(set(groups.tolist()))}


def confusion_matrix(y_true: Labels, y_pred: Labels, labels: Sequence[Any]) -> np.ndarray:
    """Counts (len(labels), len(labels)): row = true class, column = predicted class."""
    t, p = _arrays(y_true, y_pred)
    index = {c: i for i, c in enumerate(labels)}
    unknown = sorted({str(c) for c in np.concatenate([t, p]).tolist() if c not in index})
    if unknown:
        raise Web2SkyError(f"label(s) not in the class list: {', '.join(unknown[:10])}")
    out = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(out, ([index[c] for c in t.tolist()], [index[c] for c in p.tolist()]), 1)
    return out


def bootstrap_ci(
    y_true: Labels,
    y_pred: Labels,
    metric: Callable[[np.ndarray, np.ndarray], float] = accuracy,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Seeded percentile bootstrap CI of ``metric`` over test images (paired resampling)."""
    t, p = _arrays(y_true, y_pred)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, t.size, (n_resamples, t.size))
    if metric is accuracy:
        stats = (t == p)[idx].mean(axis=1)
    else:
        stats = np.array([metric(t[i], p[i]) for i in idx])
    alpha = (1 - confidence) / 2
    lo, hi = np.percentile(stats, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def score(
    y_true: Labels,
    y_pred: Labels,
    classes: Sequence[str],
    super_of: Mapping[str, str],
    family_of: Mapping[str, str],
    bootstrap_seed: int = 0,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Every metric of the protocol for one run, as JSON-ready values."""
    t, p = _arrays(y_true, y_pred)
    lo, hi = bootstrap_ci(t, p, seed=bootstrap_seed, n_resamples=n_resamples)
    return {
        "n_test": int(t.size),
        "top1": accuracy(t, p),
        "top1_ci95": [lo, hi],
        "mean_per_class_acc": mean_per_class_accuracy(t, p),
        "macro_f1": macro_f1(t, p),
        "per_super_category_acc": group_accuracy(t, p, super_of),
        "per_family_acc": group_accuracy(t, p, family_of),
        "per_class_acc": {str(k): v for k, v in per_class_accuracy(t, p, list(classes)).items()},
        "confusion": confusion_matrix(t, p, list(classes)).tolist(),
    }
