"""Measure web2sky-synth generation time and synth-clip quality on the synth benchmark.

Reports, on web2sky-synth-mini (seed 0):
- generation wall time of the mini dataset (from scratch, into a temp folder);
- synth-clip zero-shot top-1 with class prompts on web test and aerial test, as a
  multiple of chance, next to the same architecture with random weights;
- a logistic-regression linear probe trained on each view's train split and
  scored on that view's test split (the cross-view gap: aerial < web), next to
  the same probe on raw 24x24 pixels (what one can do without any VLM). The
  random-init model's image features are nearly constant (open_clip zero-inits
  the last BatchNorm of each residual block), so it sits at chance.

Usage: PYTHONPATH=. python benchmarks/synth_clip.py [--checkpoint PATH] [--size mini]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def encode(model, preprocess, root: Path, paths: list[str], batch: int = 256) -> np.ndarray:
    """L2-normalised image features of the given dataset-relative paths."""
    out = []
    with torch.no_grad():
        for i in range(0, len(paths), batch):
            x = torch.stack([preprocess(Image.open(root / p).convert("RGB")) for p in paths[i:i + batch]])
            out.append(torch.nn.functional.normalize(model.encode_image(x), dim=-1).numpy())
    return np.concatenate(out)


def pixel_probe(root: Path, frame) -> dict:
    """Linear probe on raw 24x24 RGB pixels per view: what one can do without any VLM."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    classes = sorted(frame["category"].unique())
    out = {}
    for view in ("web", "aerial"):
        sub = frame[frame["view"] == view]
        sets = {}
        for split in ("train", "test"):
            part = sub[sub["split"] == split]
            x = np.stack([np.asarray(Image.open(root / p).convert("RGB").resize((24, 24), Image.BILINEAR),
                                     dtype=np.float32).ravel() for p in part["path"]])
            sets[split] = x, np.array([classes.index(c) for c in part["category"]])
        scaler = StandardScaler().fit(sets["train"][0])
        probe = LogisticRegression(max_iter=3000, C=0.1).fit(scaler.transform(sets["train"][0]), sets["train"][1])
        out[view] = float((probe.predict(scaler.transform(sets["test"][0])) == sets["test"][1]).mean())
    return out


def evaluate(model, preprocess, tokenizer, root: Path, frame) -> dict:
    """Zero-shot and linear-probe accuracy per view."""
    from sklearn.linear_model import LogisticRegression

    from web2sky_bench.synth.categories import BY_ID, class_prompt

    classes = sorted(frame["category"].unique())
    result = {}
    for view in ("web", "aerial"):
        sub = frame[frame["view"] == view]
        test, train = sub[sub["split"] == "test"], sub[sub["split"] == "train"]
        y_test = np.array([classes.index(c) for c in test["category"]])
        y_train = np.array([classes.index(c) for c in train["category"]])
        f_test = encode(model, preprocess, root, test["path"].tolist())
        f_train = encode(model, preprocess, root, train["path"].tolist())
        with torch.no_grad():
            t = model.encode_text(tokenizer([class_prompt(BY_ID[c], view) for c in classes]))
            t = torch.nn.functional.normalize(t, dim=-1).numpy()
        zs = float(((f_test @ t.T).argmax(1) == y_test).mean())
        probe = LogisticRegression(max_iter=2000, C=10.0).fit(f_train, y_train)
        lp = float((probe.predict(f_test) == y_test).mean())
        result[view] = {"zero_shot": zs, "linear_probe": lp, "n_test": len(test), "n_train": len(train)}
    result["chance"] = 1 / len(classes)
    return result


def main() -> None:
    import open_clip

    from web2sky_bench.manifest import read_manifest
    from web2sky_bench.synth import generate_dataset
    from web2sky_bench.synth.vlm import load_synth_clip, register_synth_clip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="synth-clip checkpoint (default: the shipped one)")
    parser.add_argument("--size", default="mini")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        root = generate_dataset(Path(tmp) / "synth", size=args.size, seed=0, quiet=True)
        gen_s = time.time() - t0
        frame = read_manifest(root)
        model, preprocess, tokenizer = load_synth_clip(args.checkpoint)
        trained = evaluate(model, preprocess, tokenizer, root, frame)
        name, _ = register_synth_clip()
        rand_model, _, rand_pre = open_clip.create_model_and_transforms(name)  # same architecture, random weights
        rand_model.eval()
        random_init = evaluate(rand_model, rand_pre, tokenizer, root, frame)
        pixels = pixel_probe(root, frame)
    chance = trained["chance"]
    report = {"size": args.size, "generation_s": round(gen_s, 1), "images": len(frame),
              "synth_clip": trained, "random_init": random_init, "pixel_probe": pixels}
    print(json.dumps(report, indent=2))
    print(f"\nweb2sky-synth-{args.size}: {len(frame)} images generated in {gen_s:.1f} s")
    print(f"{'':24}{'synth-clip':>11}{'x chance':>9}{'random init':>12}{'raw pixels':>11}")
    for view in ("web", "aerial"):
        for metric in ("zero_shot", "linear_probe"):
            v, r = trained[view][metric], random_init[view][metric]
            px = f"{pixels[view]:11.3f}" if metric == "linear_probe" else f"{'-':>11}"
            print(f"{view + ' ' + metric:24}{v:11.3f}{v / chance:9.1f}{r:12.3f}{px}")
    gap = trained["web"]["linear_probe"] - trained["aerial"]["linear_probe"]
    print(f"cross-view gap (web probe - aerial probe): {gap:+.3f}")


if __name__ == "__main__":
    main()
