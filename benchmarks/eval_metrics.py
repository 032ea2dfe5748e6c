"""Scoring speed of one protocol run: web2sky's metrics vs scikit-learn + scipy.

A user without the harness would compute the same numbers with sklearn metric
functions and ``scipy.stats.bootstrap`` (percentile, paired, 1000 resamples).
Both compute identical values (checked here); this prints the time ratio.

    python benchmarks/eval_metrics.py [--n 2000] [--classes 40] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats as sps
from sklearn import metrics as skm

from web2sky_bench.evaluate import metrics as M


def reference(t, p, classes, n_resamples):
    """The same numbers with scikit-learn and scipy."""
    ci = sps.bootstrap((t, p), lambda a, b: skm.accuracy_score(a, b), paired=True, vectorized=False,
                       n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(0))
    return {
        "top1": skm.accuracy_score(t, p),
        "ci": (ci.confidence_interval.low, ci.confidence_interval.high),
        "mpca": skm.balanced_accuracy_score(t, p),
        "f1": skm.f1_score(t, p, average="macro", zero_division=0),
        "cm": skm.confusion_matrix(t, p, labels=classes),
    }


def ours(t, p, classes, n_resamples):
    """web2sky_bench.evaluate.metrics."""
    return {
        "top1": M.accuracy(t, p),
        "ci": M.bootstrap_ci(t, p, seed=0, n_resamples=n_resamples),
        "mpca": M.mean_per_class_accuracy(t, p),
        "f1": M.macro_f1(t, p),
        "cm": M.confusion_matrix(t, p, classes),
    }


def best_time(fn, repeat):
    """Best wall time of ``repeat`` calls and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    """Time both on one random run and print the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="test images")
    ap.add_argument("--classes", type=int, default=40)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    classes = [f"c{i:02d}" for i in range(args.classes)]
    t = rng.choice(classes, args.n)
    p = np.where(rng.random(args.n) < 0.6, t, rng.choice(classes, args.n))
    t_ref, r = best_time(lambda: reference(t, p, classes, args.resamples), args.repeat)
    t_our, o = best_time(lambda: ours(t, p, classes, args.resamples), args.repeat)
    assert np.allclose(r["ci"], o["ci"]) and np.isclose(r["f1"], o["f1"]) and np.isclose(r["mpca"], o["mpca"])
    assert (r["cm"] == o["cm"]).all() and r["top1"] == o["top1"]
    print(f"n={args.n} classes={args.classes} resamples={args.resamples}: identical values")
    print(f"sklearn+scipy: {1000 * t_ref:8.1f} ms")
    print(f"web2sky      : {1000 * t_our:8.1f} ms")
    print(f"speed-up     : {t_ref / t_our:8.1f}x")


if __name__ == "__main__":
    main()
