"""synth-clip: a tiny open_clip model trained on web2sky-synth images and captions.

The architecture is an open_clip custom config (``model_configs/synth-clip.json``:
a ModifiedResNet image tower at 96 px and a 2-layer text transformer with
open_clip's default BPE tokenizer, which ships inside open_clip and works
offline). :func:`register_synth_clip` adds the config to open_clip's registry
so that the normal loading path works::

    name, ckpt = register_synth_clip()
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(ckpt))
    tokenizer = open_clip.get_tokenizer(name)

:func:`train_synth_clip` trains it contrastively (CPU, seeded) on images
rendered in the generator's ``vlm`` namespace, which the benchmark's images
never use.
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import atomic_path
from web2sky_bench.synth.categories import CATEGORIES, caption, class_prompt
from web2sky_bench.synth.dataset import image_rng
from web2sky_bench.synth.render import render

MODEL_NAME = "synth-clip"
PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_DIR = PACKAGE_DIR / "model_configs"
WEIGHTS_PATH = PACKAGE_DIR / "weights" / "synth-clip.pt"
CAPTIONS_PER_IMAGE = 4


def model_config() -> dict:
    """The synth-clip open_clip config (embed_dim, vision_cfg, text_cfg)."""
    return json.loads((CONFIG_DIR / f"{MODEL_NAME}.json").read_text(encoding="utf-8"))


def register_synth_clip() -> tuple[str, Path]:
    """Register the synth-clip config with open_clip; return (model name, checkpoint path)."""
    import open_clip

    if MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)
    return MODEL_NAME, WEIGHTS_PATH


def load_synth_clip(checkpoint: str | os.PathLike[str] | None = None, device: str = "cpu"):
    """(model in eval mode, preprocess, tokenizer) of synth-clip through open_clip's normal path."""
    import open_clip

    name, default = register_synth_clip()
    path = Path(checkpoint) if checkpoint else default
    if not path.is_file():
        raise Web2SkyError(f"synth-clip weights not found at {path}; train them with: web2sky-bench synth train-vlm")
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(path), device=device)
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(name)


# --- training data -------------------------------------------------------------------------


def _render_training_item(args) -> tuple[np.ndarray, list[str], int]:
    """One training image (uint8 HxWx3 at the model's input size), its captions and label."""
    seed, ci, view, index, size = args
    from PIL import Image

    spec = CATEGORIES[ci]
    rng = image_rng(seed, "vlm", ci, view, index)
    out = render(spec, view, rng)
    texts = [caption(spec, view, rng, livery=out.livery, context=out.context) for _ in range(CAPTIONS_PER_IMAGE - 1)]
    texts.append(class_prompt(spec, view))
    image = out.image.convert("RGB").resize((size, size), Image.BICUBIC)
    return np.asarray(image, dtype=np.uint8), texts, ci


def training_set(seed: int, web: int, aerial: int, size: int, workers: int, quiet: bool = False):
    """Render ``web`` and ``aerial`` images per category: (images uint8 NxHxWx3, captions, labels, views)."""
    tasks = [(seed, ci, view, i, size) for ci in range(len(CATEGORIES))
             for view, count in (("web", web), ("aerial", aerial)) for i in range(count)]
    images, texts, labels = [], [], []
    with tqdm(total=len(tasks), desc="render vlm training images", disable=quiet) as bar:
        if workers > 1:
            with mp.get_context("fork").Pool(workers) as pool:
                for img, caps, ci in pool.imap(_render_training_item, tasks, chunksize=32):
                    images.append(img), texts.append(caps), labels.append(ci)
                    bar.update()
        else:
            for task in tasks:
                img, caps, ci = _render_training_item(task)
                images.append(img), texts.append(caps), labels.append(ci)
                bar.update()
    views = np.array([0 if t[2] == "web" else 1 for t in tasks])
    return np.stack(images), texts, np.array(labels), views


# --- training ------------------------------------------------------------------------------


def train_synth_clip(out: str | os.PathLike[str] | None = None, seed: int = 0, web: int = 120, aerial: int = 40,
                     epochs: int = 14, batch_size: int = 64, lr: float = 3e-3, threads: int = 1,
                     workers: int | None = None, quiet: bool = False) -> dict:
    """Train synth-clip contrastively on synthetic web + aerial images and their captions.

    Images come from the generator's ``vlm`` namespace (disjoint from every
    benchmark image): ``web`` and ``aerial`` images per category; like a real
    CLIP, it sees mostly web photos and few aerial chips. The loss is CLIP's symmetric cross-entropy with
    caption-level positives: every caption of the same category in the batch
    counts as a match. Writes an fp16 checkpoint (open_clip's ``state_dict``
    format) atomically and returns a summary with its sha256.
    """
    import open_clip
    import torch
    import torch.nn.functional as F

    from web2sky_bench.manifest import file_sha256

    out = Path(out) if out else WEIGHTS_PATH
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)
    model = open_clip.create_model(MODEL_NAME)
    cfg = model_config()
    size = cfg["vision_cfg"]["image_size"]
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    started = time.time()
    n_workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    images, texts, labels, views = training_set(seed, web, aerial, size, n_workers, quiet)
    t_render = time.time() - started
    tokens = tokenizer([t for caps in texts for t in caps]).view(len(texts), CAPTIONS_PER_IMAGE, -1)
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # uint8 N,3,H,W
    y = torch.from_numpy(labels)
    is_aerial = torch.from_numpy(views == 1)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)

    n = len(y)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    warmup = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
    gen = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    with tqdm(total=total, desc="train synth-clip", disable=quiet) as bar:
        for _epoch in range(epochs):
            order = torch.randperm(n, generator=gen)
            for s in range(steps_per_epoch):
                idx = order[s * batch_size:(s + 1) * batch_size]
                x = pixels[idx].float().div_(255)
                flip = torch.rand(len(idx), generator=gen) < 0.5
                x[flip] = x[flip].flip(-1)
                rot = torch.randint(0, 4, (len(idx),), generator=gen)
                for k in (1, 2, 3):  # aerial chips have no "up": rotate them by multiples of 90 deg
                    sel = is_aerial[idx] & (rot == k)
                    if sel.any():
                        x[sel] = torch.rot90(x[sel], k, (2, 3))
                x = (x - mean) / std
                pick = torch.randint(0, CAPTIONS_PER_IMAGE, (len(idx),), generator=gen)
                t = tokens[idx, pick]
                img_f = F.normalize(model.encode_image(x), dim=-1)
                txt_f = F.normalize(model.encode_text(t), dim=-1)
                logits = model.logit_scale.exp() * img_f @ txt_f.T
                same = (y[idx][:, None] == y[idx][None, :]).float()
                target = same / same.sum(1, keepdim=True)
                loss = 0.5 * (-(target * F.log_softmax(logits, 1)).sum(1).mean()
                              - (target * F.log_softmax(logits.T, 1)).sum(1).mean())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, math.log(100))
                losses.append(float(loss.detach()))
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
                bar.update()
    model.eval()
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    meta = {"model": MODEL_NAME, "seed": seed, "web": web, "aerial": aerial, "epochs": epochs, "batch_size": batch_size,
            "lr": lr, "namespace": "vlm", "images": n, "final_loss": float(np.mean(losses[-20:]))}
    buf = io.BytesIO()  # a file-name-independent archive: same weights, same bytes
    torch.save({"state_dict": state, "meta": meta}, buf)
    with atomic_path(out) as tmp:
        tmp.write_bytes(buf.getvalue())
    return {**meta, "path": str(out), "sha256": file_sha256(out), "bytes": out.stat().st_size,
            "render_s": round(t_render, 1), "total_s": round(time.time() - started, 1)}
