"""Build small but complete leaderboard entries for tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from web2sky_bench.evaluate import metrics
from web2sky_bench.evaluate.entries import build_entry

CLASSES = ["su-35", "c-130", "nimitz-class", "container-ship"]
SUPER = {"su-35": "aircraft", "c-130": "aircraft", "nimitz-class": "ship", "container-ship": "ship"}
FAMILY = {"su-35": "fighter", "c-130": "transport", "nimitz-class": "carrier", "container-ship": "cargo"}
BENCH = {"name": "tiny-bench", "version": "1.0", "manifest_sha256": "a" * 64}


def fake_entry(name: str = "demo-model", skill: float = 0.7, shots=("1", "all"), seeds=(1, 2), external=False):
    """An entry whose predictions are right with probability ``skill`` (seeded)."""
    ids = [f"t{i:03d}" for i in range(40)]
    truth = np.array([CLASSES[i % 4] for i in range(40)])
    runs_by_k, preds = {}, []
    for j, k in enumerate(shots):
        runs = []
        for s in seeds:
            rng = np.random.default_rng([s, j, len(name)])
            ok = rng.random(40) < skill + 0.05 * j
            pred = np.where(ok, truth, rng.choice(CLASSES, 40))
            run = metrics.score(truth, pred, CLASSES, SUPER, FAMILY, n_resamples=50)
            runs.append({"seed": s, "n_train_aerial": 4, "val_top1": None, "runtime_s": 0.1, **run})
            preds.append(pd.DataFrame({"shots": k, "seed": s, "image_id": ids, "prediction": pred, "confidence": 1.0}))
        runs_by_k[k] = runs
    protocol = {"name": "web2sky-v1", "shots": list(shots), "seeds": list(seeds), "selection": "aerial val",
                "bootstrap_resamples": 50}
    model = {"name": name, "backbone": None if external else "tiny-clip", "pretrained": None, "config": {"lr": 0.1},
             "external": external}
    return build_entry(benchmark=BENCH, track="all", protocol=protocol, model=model, classes=CLASSES,
                       runs_by_k=runs_by_k, predictions=pd.concat(preds), total_runtime_s=1.0, device="cpu")
