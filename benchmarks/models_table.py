"""The issue-8 model table: aerial test top-1 of every registered model under web2sky-v1.

Encodes the dataset once with the backbone (feature cache), then for every
model, k and seed builds the protocol's TaskData (``evaluate.protocol.build_task_data``:
all web train + k aerial shots + aerial val), fits, and scores aerial test once.
Results are appended to a JSON file as they come (re-running resumes), and the
markdown table (mean ± std over seeds, CCA's gains) is printed at the end.

    PYTHONPATH=$PWD python benchmarks/models_table.py --dataset web2sky-synth-standard \
        --shots 1 4 16 all --seeds 1 2 3 --out benchmarks/results/models_table.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

CVA = ("cva-mmd", "cva-coral", "cva-dann", "cva-supcon", "cva-proto", "cva-distill")


def run(args: argparse.Namespace) -> dict:
    from web2sky_bench.evaluate.protocol import build_task_data, encode, resolve_dataset, test_rows, track_frame
    from web2sky_bench.manifest import read_manifest
    from web2sky_bench.models.backbones import load_backbone
    from web2sky_bench.models.base import Split
    from web2sky_bench.models.registry import MODELS, get_model

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
    dataset_dir = resolve_dataset(args.dataset)
    frame = read_manifest(dataset_dir)
    bb = load_backbone(args.backbone, args.pretrained, device="cpu", dataset_dir=dataset_dir)
    rows = track_frame(frame, args.track)
    feats = encode(bb, dataset_dir, rows, quiet=False)
    test = test_rows(frame, args.track)
    classes = sorted(rows.loc[rows["view"] == "aerial", "category"].unique().tolist())
    truth = np.array([classes.index(c) for c in test["category"]])
    test_split = Split(torch.stack([feats[i] for i in test["image_id"]]), None, test["image_id"].tolist())
    results["meta"] = {"dataset": dataset_dir.name, "backbone": bb.name, "track": args.track,
                       "n_test": len(test), "n_classes": len(classes)}
    names = list(MODELS) if args.models == ["all"] else args.models
    for k in args.shots:
        for seed in args.seeds:
            data = build_task_data(dataset_dir, frame, args.track, k, seed, bb, features=feats)
            for name in names:
                key = f"{name}|{k}|{seed}"
                if key in results["runs"]:
                    continue
                start = time.perf_counter()
                model = get_model(name)(seed=seed)
                model.fit(data)
                acc = float((model.predict(test_split).argmax(1) == truth).mean())
                results["runs"][key] = {"top1": acc, "seconds": round(time.perf_counter() - start, 2)}
                print(f"{key:28s} top1 {acc:.4f}  {results['runs'][key]['seconds']}s", flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=1))
    return results


def table(results: dict, shots: list[str]) -> str:
    """Markdown: mean ± std (%) per model and k, then CCA's gains."""
    from web2sky_bench.models.registry import MODELS

    runs = results["runs"]

    def accs(name: str, k: str) -> list[float]:
        return [v["top1"] * 100 for key, v in runs.items() if key.split("|")[:2] == [name, k]]

    lines = ["| model | " + " | ".join(f"k={k}" for k in shots) + " | s/fit |",
             "|---|" + "---|" * (len(shots) + 1)]
    for name in MODELS:
        cells = []
        for k in shots:
            a = accs(name, k)
            cells.append(f"{np.mean(a):.1f} ± {np.std(a):.1f}" if a else "–")
        secs = [v["seconds"] for key, v in runs.items() if key.split("|")[0] == name]
        if not secs:
            continue
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean(secs):.1f} |")
    gain_cva, gain_aer, best = [], [], []
    for k in shots:
        cca = accs("cca", k)
        cva = {n: np.mean(accs(n, k)) for n in CVA if accs(n, k)}
        if not cca or not cva:
            gain_cva.append("–"), gain_aer.append("–"), best.append("–")
            continue
        top = max(cva, key=cva.get)
        best.append(top)
        gain_cva.append(f"{np.mean(cca) - cva[top]:+.1f}")
        aer = accs("aerial-only", k)
        gain_aer.append(f"{np.mean(cca) - np.mean(aer):+.1f}" if aer else "–")
    lines.append("| best CVA | " + " | ".join(best) + " | |")
    lines.append("| **CCA − best CVA** | " + " | ".join(gain_cva) + " | |")
    lines.append("| **CCA − aerial-only** | " + " | ".join(gain_aer) + " | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="web2sky-synth-standard")
    parser.add_argument("--track", default="all")
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--shots", nargs="+", default=["1", "4", "16", "all"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--models", nargs="+", default=["all"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/models_table.json")
    parser.add_argument("--table-only", action="store_true", help="only print the table of --out")
    args = parser.parse_args()
    results = json.loads(Path(args.out).read_text()) if args.table_only else run(args)
    print(json.dumps(results.get("meta", {})))
    print(table(results, args.shots))


if __name__ == "__main__":
    main()
