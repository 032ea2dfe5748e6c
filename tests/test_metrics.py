"""Metrics of web2sky-v1 against scikit-learn / scipy on random and edge-case labels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn import metrics as skm

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.evaluate import metrics as M

CLASSES = ["a", "b", "c", "d", "e"]


def _labels(seed: int, n: int = 200, noise: float = 0.4):
    rng = np.random.default_rng(seed)
    t = rng.choice(CLASSES[:4], size=n)  # class "e" never true: exercises unseen predictions
    p = np.where(rng.random(n) < noise, rng.choice(CLASSES, size=n), t)
    return t, p


@pytest.mark.filterwarnings("ignore:y_pred contains classes")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn(seed):
    t, p = _labels(seed)
    assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    assert M.mean_per_class_accuracy(t, p) == pytest.approx(skm.balanced_accuracy_score(t, p))
    assert M.macro_f1(t, p) == pytest.approx(skm.f1_score(t, p, average="macro", zero_division=0))
    np.testing.assert_array_equal(M.confusion_matrix(t, p, CLASSES), skm.confusion_matrix(t, p, labels=CLASSES))
    recalls = skm.recall_score(t, p, labels=CLASSES[:4], average=None, zero_division=0)
    assert list(M.per_class_accuracy(t, p, CLASSES).values()) == pytest.approx(recalls.tolist())
    assert list(M.per_class_accuracy(t, p, CLASSES)) == CLASSES[:4]


def test_group_accuracy_matches_subset_accuracy():
    t, p = _labels(3)
    group = {"a": "aircraft", "b": "aircraft", "c": "ship", "d": "ship", "e": "ship"}
    got = M.group_accuracy(t, p, group)
    for g in ("aircraft", "ship"):
        mask = np.array([group[c] == g for c in t])
        assert got[g] == pytest.approx(skm.accuracy_score(t[mask], p[mask]))
    with pytest.raises(Web2SkyError, match="no group known"):
        M.group_accuracy(t, p, {"a": "x"})


def test_bootstrap_matches_scipy_percentile():
    t, p = _labels(4, n=120)
    lo, hi = M.bootstrap_ci(t, p, seed=7, n_resamples=500)
    ref = sps.bootstrap(
        (t, p), lambda a, b: skm.accuracy_score(a, b), paired=True, vectorized=False,
        n_resamples=500, method="percentile", rng=np.random.default_rng(7),
    )
    assert (lo, hi) == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high))
    assert lo <= M.accuracy(t, p) <= hi
    # generic metric path gives the same interval for accuracy and is seeded
    lo2, hi2 = M.bootstrap_ci(t, p, metric=lambda a, b: float(np.mean(a == b)), seed=7, n_resamples=500)
    assert (lo2, hi2) == pytest.approx((lo, hi))
    assert M.bootstrap_ci(t, p, seed=8, n_resamples=500) != (lo, hi)


def test_edge_cases():
    assert M.accuracy(["a"], ["a"]) == 1.0
    assert M.macro_f1(["a", "b"], ["b", "a"]) == 0.0
    with pytest.raises(Web2SkyError, match="empty"):
        M.accuracy([], [])
    with pytest.raises(Web2SkyError, match="equal length"):
        M.accuracy(["a"], ["a", "b"])
    with pytest.raises(Web2SkyError, match="not in the class list"):
        M.confusion_matrix(["a"], ["z"], ["a"])


def test_score_bundle_is_json_ready():
    import json

    t, p = _labels(5, n=50)
    out = M.score(t, p, CLASSES, {c: "aircraft" for c in CLASSES}, {c: "f" + c for c in CLASSES}, n_resamples=100)
    json.dumps(out)
    assert out["top1"] == pytest.approx(skm.accuracy_score(t, p))
    assert np.sum(out["confusion"]) == 50
