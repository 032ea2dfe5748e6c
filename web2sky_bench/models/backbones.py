"""Frozen open_clip backbones: any model name with a pretrained tag or a local checkpoint.

``load_backbone("ViT-B-16", "openai")`` loads OpenAI's weights from the local
Hugging Face / open_clip cache (downloading only when the network is reachable
and ``HF_HUB_OFFLINE`` is unset); ``load_backbone("ViT-B-16", "/path/ckpt.pt")``
loads a checkpoint file; ``load_backbone(dataset_dir=...)`` on a web2sky-synth
dataset picks the committed synth-clip model. ``pretrained="random"`` gives a
randomly initialised model (always the same weights, seed ``RANDOM_SEED``) for
tests and smoke runs.

The :class:`Backbone` wraps the model with batched, gradient-free, L2-normalised
text and image encoders and a :attr:`Backbone.key` that identifies the weights
and preprocessing for the feature cache.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import socket
from pathlib import Path
from typing import Any

import torch

from web2sky_bench.errors import Web2SkyError

DEFAULT_BACKBONE = ("ViT-B-16", "openai")
"""The backbone used on real (non-synthetic) datasets when none is named."""
SYNTH_PREFIX = "web2sky-synth"
RANDOM = "random"
"""``pretrained`` value that asks for random initialisation (tests, smoke runs)."""
RANDOM_SEED = 0
"""Seed of random initialisation: ``pretrained="random"`` gives the same weights in every process."""
_TRUE = {"1", "true", "yes", "on"}

log = logging.getLogger(__name__)


class Backbone:
    """A frozen open_clip model with its tokenizer and preprocessing.

    Attributes: ``model`` (eval mode, on ``device``), ``preprocess`` (PIL image ->
    tensor), ``name`` (open_clip model name), ``pretrained`` (tag, checkpoint path
    or ``"random"``), ``device`` and ``key`` (cache key: model name, weights
    identity and preprocessing description).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Any,
        tokenizer: Any,
        name: str,
        pretrained: str,
        weights_id: str,
        device: str,
        text_batch_size: int = 256,
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.pretrained = pretrained
        self.device = device
        self.text_batch_size = text_batch_size
        self.key = f"{name}|{weights_id}|{describe_preprocess(preprocess)}"

    @property
    def dim(self) -> int:
        """Embedding width of the joint image-text space."""
        proj = getattr(self.model, "text_projection", None)
        if isinstance(proj, torch.Tensor):
            return int(proj.shape[-1])
        if isinstance(proj, torch.nn.Linear):
            return int(proj.out_features)
        return int(self.encode_text(["a"]).shape[1])

    @torch.no_grad()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Embed ``texts``: (m, d) float32 on CPU, rows L2-normalised."""
        if isinstance(texts, str):
            raise TypeError("encode_text takes a list of strings, not one string")
        if not texts:
            return torch.zeros(0, self.dim, dtype=torch.float32)
        out = []
        for start in range(0, len(texts), self.text_batch_size):
            tokens = self.tokenizer(list(texts[start : start + self.text_batch_size])).to(self.device)
            feats = self.model.encode_text(tokens).float()
            out.append(torch.nn.functional.normalize(feats, dim=-1).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def encode_images(self, batch: torch.Tensor) -> torch.Tensor:
        """Embed a preprocessed image batch (b, 3, h, w): (b, d) float32 on CPU, L2-normalised."""
        batch = batch.to(self.device, non_blocking=True)
        feats = self.model.encode_image(batch).float()
        return torch.nn.functional.normalize(feats, dim=-1).cpu()

    def __repr__(self) -> str:
        return f"Backbone({self.name!r}, pretrained={self.pretrained!r}, device={self.device!r})"


def describe_preprocess(preprocess: Any) -> str:
    """A stable one-line description of a torchvision transform pipeline."""
    steps = getattr(preprocess, "transforms", [preprocess])
    parts = [getattr(t, "__name__", None) or repr(t) for t in steps]
    text = ";".join(re.sub(r"\s+", " ", p).strip() for p in parts)
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is checked and returned."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise Web2SkyError(f"device {device!r} requested but CUDA is not available; use --device cpu or auto")
    return device


def hf_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks Hugging Face libraries not to use the network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


@functools.lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a checkpoint file (memoised per path, size and mtime)."""
    st = os.stat(path)
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def _params_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def is_synth_dataset(dataset_dir: str | os.PathLike[str] | None) -> bool:
    """True when ``dataset_dir/dataset.json`` names a web2sky-synth dataset."""
    if dataset_dir is None:
        return False
    from web2sky_bench.manifest import read_card

    card_path = Path(dataset_dir) / "dataset.json"
    return card_path.is_file() and str(read_card(dataset_dir).get("name", "")).startswith(SYNTH_PREFIX)


def _synth_clip() -> tuple[str, str]:
    try:
        from web2sky_bench.synth.vlm import register_synth_clip
    except ImportError as exc:
        raise Web2SkyError(
            "synth-clip is not available in this installation (web2sky_bench.synth.vlm is missing); "
            "pass --backbone NAME --pretrained TAG|/path/ckpt.pt"
        ) from exc
    name, checkpoint = register_synth_clip()
    return name, str(checkpoint)


def _hub_url() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _network_reachable(url: str | None = None, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``url``'s host (default: the HF endpoint) opens within ``timeout``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url or _hub_url())
    port = parts.port or (80 if parts.scheme == "http" else 443)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_tag_weights(cfg: dict) -> str | None:
    """The local file holding a pretrained tag's weights, or None when not downloaded yet."""
    if cfg.get("file"):
        return cfg["file"] if os.path.isfile(cfg["file"]) else None
    hub = cfg.get("hf_hub", "")
    if hub:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            try_to_load_from_cache = None
        if try_to_load_from_cache is not None:
            repo_id, filename = os.path.split(hub)
            names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
            if filename.endswith((".bin", ".pth")):
                names.insert(0, filename[:-4] + ".safetensors")
            for fname in names:
                found = try_to_load_from_cache(repo_id, fname)
                if isinstance(found, str) and os.path.isfile(found):
                    return found
    url = cfg.get("url", "")
    if url:
        legacy = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if legacy.is_file():
            return str(legacy)
    return None


def _tag_weights(name: str, tag: str, cfg: dict) -> str:
    """Local weights for a pretrained tag: from the cache, else downloaded; never hangs offline."""
    found = _cached_tag_weights(cfg)
    if found:
        return found
    hint = f"pass --pretrained /path/to/checkpoint.pt (an open_clip {name} state dict)"
    if hf_offline():
        raise Web2SkyError(
            f"pretrained tag {tag!r} for {name} needs a download; HF_HUB_OFFLINE=1 is set and the weights "
            f"are not in the local cache; {hint}"
        )
    source = _hub_url() if cfg.get("hf_hub") else cfg.get("url") or _hub_url()
    if not _network_reachable(source):
        raise Web2SkyError(
            f"pretrained tag {tag!r} for {name} needs a download, the weights are not in the local cache "
            f"and {source} cannot be reached; {hint}"
        )
    import open_clip

    try:
        return open_clip.download_pretrained(cfg)
    except Exception as exc:  # open_clip raises bare RuntimeError/FileNotFoundError
        raise Web2SkyError(f"downloading pretrained tag {tag!r} for {name} failed: {exc}; {hint}") from exc


def _check_hub_reachable(name: str) -> None:
    """Fail fast for an ``hf-hub:`` model that is neither cached nor downloadable."""
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name.split(":", 1)[1], "open_clip_config.json"), str):
        return
    if hf_offline() or not _network_reachable():
        why = "HF_HUB_OFFLINE=1 is set" if hf_offline() else f"{_hub_url()} cannot be reached"
        raise Web2SkyError(
            f"{name} is not in the local Hugging Face cache and {why}; use local-dir:/path/to/folder "
            f"or --backbone NAME --pretrained /path/to/checkpoint.pt"
        )


def load_backbone(
    name: str | None = None,
    pretrained: str | os.PathLike[str] | None = None,
    device: str = "auto",
    dataset_dir: str | os.PathLike[str] | None = None,
) -> Backbone:
    """Load a frozen open_clip backbone.

    ``name``: an open_clip model name (``open_clip.list_models()``), ``synth-clip``,
    or None for the default (synth-clip on web2sky-synth datasets, else
    ``ViT-B-16``/``openai``). ``pretrained``: a tag (``openai``, ``laion2b_s34b_b88k``
    ...), a checkpoint path, ``"random"``, or None for the model's default
    (``openai`` when it has that tag). ``device``: ``auto`` (CUDA when available),
    ``cpu`` or ``cuda[:i]``. Raises :class:`Web2SkyError` when the weights cannot
    be had (offline, unknown tag, missing file).
    """
    import open_clip

    dev = resolve_device(device)
    if name is None:
        if is_synth_dataset(dataset_dir):
            name = "synth-clip"
        else:
            name, pretrained = DEFAULT_BACKBONE[0], pretrained or DEFAULT_BACKBONE[1]
    if name == "synth-clip" and pretrained is None:
        name, pretrained = _synth_clip()
        if not os.path.isfile(pretrained):
            raise Web2SkyError(f"synth-clip weights not found at {pretrained}; train them with "
                               f"`web2sky-bench synth train-vlm` or pass --pretrained /path/to/checkpoint.pt")
    elif name == "synth-clip":
        _synth_clip()  # registers the config so the checkpoint given can be loaded
    if name not in open_clip.list_models() and not name.startswith(("hf-hub:", "local-dir:")):
        import difflib

        close = difflib.get_close_matches(name, open_clip.list_models(), n=5)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise Web2SkyError(f"unknown open_clip model {name!r}{hint} (see open_clip.list_models())")

    if name.startswith("hf-hub:"):
        _check_hub_reachable(name)
    kwargs: dict[str, Any] = {}
    pretrained_arg: str | None
    tags = open_clip.list_pretrained_tags_by_model(name) if ":" not in name else []
    if pretrained is None and ":" not in name:
        if not tags:
            raise Web2SkyError(
                f"{name} has no pretrained tags; pass --pretrained /path/to/checkpoint.pt "
                f"(or --pretrained {RANDOM} for random weights)"
            )
        pretrained = "openai" if "openai" in tags else tags[0]
    pretrained = str(pretrained) if pretrained is not None else None

    if ":" in name:  # hf-hub:/local-dir: bring their own weights; open_clip ignores `pretrained`
        pretrained_arg, weights_id, pretrained = None, None, name.split(":", 1)[0]
    elif pretrained is None or pretrained == RANDOM:
        pretrained_arg, weights_id = None, None
    elif os.path.isfile(pretrained):
        pretrained_arg = pretrained
        weights_id = f"sha256:{checkpoint_sha256(pretrained)}"
    elif pretrained in tags:
        cfg = open_clip.get_pretrained_cfg(name, pretrained)
        pretrained_arg = _tag_weights(name, pretrained, cfg)
        weights_id = f"tag:{pretrained}"
        for key, arg in (("mean", "image_mean"), ("std", "image_std"),
                         ("interpolation", "image_interpolation"), ("resize_mode", "image_resize_mode")):
            if cfg.get(key) is not None:
                kwargs[arg] = cfg[key]
        if cfg.get("quick_gelu") and not open_clip.get_model_config(name).get("quick_gelu"):
            kwargs["force_quick_gelu"] = True
    elif os.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors")):
        raise Web2SkyError(f"checkpoint file not found: {pretrained}")
    else:
        known = ", ".join(tags) or "none"
        raise Web2SkyError(
            f"unknown pretrained tag {pretrained!r} for {name}; known tags: {known}; "
            f"or pass a checkpoint path"
        )

    try:
        with torch.random.fork_rng(devices=[]):  # random init is seeded; the caller's RNG is untouched
            torch.manual_seed(RANDOM_SEED)
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained_arg, device=dev, **kwargs
            )
    except (RuntimeError, FileNotFoundError, ValueError, KeyError) as exc:
        raise Web2SkyError(f"cannot load {name} with pretrained={pretrained!r}: {exc}") from exc
    if weights_id is None:  # random or schema-loaded weights: identify them by content
        weights_id = f"{pretrained if ':' in name else RANDOM}:{_params_sha256(model)}"
    tokenizer = open_clip.get_tokenizer(name)
    return Backbone(model, preprocess, tokenizer, name, pretrained or RANDOM, weights_id, dev)
