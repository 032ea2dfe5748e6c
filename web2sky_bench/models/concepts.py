"""Concept pools: short, view-invariant structural descriptions per category.

Sources, later ones winning per category:

1. the curated files ``manifests/concepts/*.json`` (``{category: [concept, ...]}``),
   covering every category of the shipped taxonomy;
2. a dataset folder's own ``concepts.json`` (web2sky-synth writes its synthetic pools there);
3. an explicit file (``path=``), e.g. the output of ``web2sky-bench concepts generate``.

The optional generator asks an OpenAI-compatible chat-completions endpoint with
a fixed prompt, caches each answer under ``paths.cache_dir("llm")`` and filters
the result as Label-free CBM does (Oikarinen et al., ICLR'23): drop concepts
longer than 30 characters, with text-embedding cosine > 0.85 to a class name,
or > 0.9 to a concept already kept for the same class.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import write_json
from web2sky_bench.models.backbones import is_synth_dataset
from web2sky_bench.paths import cache_dir, manifests_dir

DATASET_FILE = "concepts.json"
API_KEY_ENVS = ("WEB2SKY_LLM_API_KEY", "OPENAI_API_KEY")
MAX_LENGTH = 30
CLASS_SIMILARITY = 0.85
DUPLICATE_SIMILARITY = 0.9

SYSTEM_PROMPT = "You are an expert in aircraft and ship recognition from imagery."
USER_PROMPT = (
    "List {n} short visual features that identify the {super_category} type \"{name}\" in both "
    "ground-level photos and overhead satellite images. Describe only physical structure that is "
    "visible from above as well as from the side, such as planform, wing position and sweep, engine "
    "count and placement, tail configuration, fuselage shape, hull form, deck and superstructure "
    "layout, funnels, masts, flight deck and elevators. Do not mention the type's name, colours, "
    "markings, backgrounds or history. Answer with a JSON array of strings only, each under "
    "30 characters, for example [\"four underwing engines\", \"T-tail\"]."
)


def read_concepts_file(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Read and check a ``{category: [concept, ...]}`` JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Web2SkyError(f"concept file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise Web2SkyError(f"concept file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Web2SkyError(f"concept file {path} must hold an object {{category: [concepts]}}")
    for cat, concepts in data.items():
        if not isinstance(concepts, list) or not all(isinstance(c, str) and c.strip() for c in concepts):
            raise Web2SkyError(f"concept file {path}: {cat!r} must map to a list of non-empty strings")
    return {cat: [c.strip() for c in concepts] for cat, concepts in data.items()}


def curated_concepts() -> dict[str, list[str]]:
    """The curated pools shipped in ``manifests/concepts/*.json``, merged."""
    pool: dict[str, list[str]] = {}
    for file in sorted((manifests_dir() / "concepts").glob("*.json")):
        pool.update(read_concepts_file(file))
    return pool


def load_concepts(
    classes: Iterable[str],
    dataset_dir: str | os.PathLike[str] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> dict[str, list[str]]:
    """Concept pools for ``classes`` (category ids), in the order given.

    Reads the curated files, then ``dataset_dir/concepts.json`` when present
    (required for web2sky-synth datasets), then ``path``; raises
    :class:`Web2SkyError` naming the categories left without concepts.
    """
    classes = list(classes)
    pool = curated_concepts()
    sources = ["manifests/concepts/*.json"]
    if dataset_dir is not None:
        own = Path(dataset_dir) / DATASET_FILE
        if own.is_file():
            pool.update(read_concepts_file(own))
            sources.append(str(own))
        elif is_synth_dataset(dataset_dir):
            raise Web2SkyError(f"{own} is missing; regenerate the synthetic dataset (web2sky-bench download "
                               f"{Path(dataset_dir).name} --force)")
    if path is not None:
        pool.update(read_concepts_file(path))
        sources.append(str(path))
    missing = [c for c in classes if not pool.get(c)]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise Web2SkyError(
            f"no concepts for {shown} (looked in {', '.join(sources)}); add them to a concepts.json "
            f"in the dataset folder or run `web2sky-bench concepts generate`"
        )
    return {c: list(pool[c]) for c in classes}


# --- generation with an OpenAI-compatible chat endpoint ---------------------------------


def parse_concept_list(text: str) -> list[str]:
    """Concepts from a model answer: a JSON array if there is one, else one per line."""
    start, end = text.find("["), text.rfind("]")
    if 0 <= start < end:
        try:
            items = json.loads(text[start : end + 1])
            if isinstance(items, list) and all(isinstance(i, str) for i in items):
                return _clean(items)
        except json.JSONDecodeError:
            pass
    lines = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s*", "", line).strip()
        if line and not line.endswith(":"):
            lines.append(line)
    return _clean(lines)


def _clean(items: Iterable[str]) -> list[str]:
    out, seen = [], set()
    for item in items:
        item = item.strip().strip("\"'").rstrip(".;,").strip()
        key = item.lower()
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return out


@dataclass
class ChatClient:
    """A minimal OpenAI-compatible chat-completions client with an answer cache.

    ``url``: the API base (``http://host:8000/v1``) or the full
    ``.../chat/completions`` endpoint. The API key comes from ``api_key`` or the
    environment (``WEB2SKY_LLM_API_KEY``, then ``OPENAI_API_KEY``); none is sent
    when neither is set. Answers are cached by (endpoint, request body).
    """

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 120.0
    retries: int = 2
    cache: Path = field(default_factory=lambda: cache_dir("llm"))
    requests_made: int = 0

    @property
    def endpoint(self) -> str:
        """The chat-completions URL."""
        base = self.url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"

    def complete(self, messages: list[dict[str, str]], temperature: float = 0.0) -> str:
        """The assistant's reply to ``messages`` (cached)."""
        body = {"model": self.model, "messages": messages, "temperature": temperature}
        digest = hashlib.sha256(json.dumps([self.endpoint, body], sort_keys=True).encode()).hexdigest()
        cached = self.cache / f"{digest}.json"
        if cached.is_file():
            try:
                return json.loads(cached.read_text(encoding="utf-8"))["content"]
            except (json.JSONDecodeError, KeyError):
                cached.unlink(missing_ok=True)
        content = self._post(body)
        write_json(cached, {"endpoint": self.endpoint, "request": body, "content": content})
        return content

    def _post(self, body: dict) -> str:
        import requests

        key = self.api_key or next((os.environ[e] for e in API_KEY_ENVS if os.environ.get(e)), None)
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        for attempt in range(self.retries + 1):
            self.requests_made += 1
            try:
                resp = requests.post(self.endpoint, json=body, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt < self.retries:
                    time.sleep(2**attempt)
                    continue
                raise Web2SkyError(f"cannot reach the LLM endpoint {self.endpoint}: {exc}") from exc
            if (resp.status_code == 429 or resp.status_code >= 500) and attempt < self.retries:
                time.sleep(2**attempt)
                continue
            if resp.status_code >= 400:
                hint = " (set WEB2SKY_LLM_API_KEY)" if resp.status_code in (401, 403) else ""
                raise Web2SkyError(
                    f"LLM endpoint {self.endpoint} answered HTTP {resp.status_code}{hint}: {resp.text[:300]}"
                )
            try:
                return resp.json()["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise Web2SkyError(
                    f"LLM endpoint {self.endpoint} did not answer in the chat-completions format: "
                    f"{resp.text[:300]}"
                ) from exc
        raise AssertionError("unreachable")


@dataclass
class Removed:
    """A concept the filter dropped, and why."""

    category: str
    concept: str
    reason: str


def filter_concepts(
    pool: dict[str, list[str]],
    class_names: dict[str, str],
    encode_text: Callable[[list[str]], torch.Tensor] | None = None,
    max_length: int = MAX_LENGTH,
    class_similarity: float = CLASS_SIMILARITY,
    duplicate_similarity: float = DUPLICATE_SIMILARITY,
) -> tuple[dict[str, list[str]], list[Removed]]:
    """Label-free CBM filtering of generated pools.

    Drops concepts longer than ``max_length`` characters, exact (case-insensitive)
    repeats, and, when ``encode_text`` (L2-normalised text features) is given,
    concepts with cosine > ``class_similarity`` to any class name and concepts
    with cosine > ``duplicate_similarity`` to a concept kept earlier for the same
    class. Returns the kept pools and the removed concepts with reasons.
    """
    removed: list[Removed] = []
    names = list(class_names.values())
    name_feats = encode_text(names) if encode_text is not None and names else None
    kept: dict[str, list[str]] = {}
    for cat, concepts in pool.items():
        candidates = []
        seen: set[str] = set()
        for concept in concepts:
            if len(concept) > max_length:
                removed.append(Removed(cat, concept, f"longer than {max_length} characters"))
            elif concept.lower() in seen:
                removed.append(Removed(cat, concept, "repeated"))
            else:
                seen.add(concept.lower())
                candidates.append(concept)
        if encode_text is None or not candidates:
            kept[cat] = candidates
            continue
        feats = encode_text(candidates)
        to_names = feats @ name_feats.T
        chosen: list[int] = []
        for i, concept in enumerate(candidates):
            j = int(to_names[i].argmax())
            if float(to_names[i, j]) > class_similarity:
                removed.append(Removed(cat, concept, f"cosine {float(to_names[i, j]):.2f} to class name {names[j]!r}"))
                continue
            if chosen:
                sims = feats[chosen] @ feats[i]
                k = int(sims.argmax())
                if float(sims[k]) > duplicate_similarity:
                    removed.append(Removed(cat, concept,
                                           f"cosine {float(sims[k]):.2f} to {candidates[chosen[k]]!r}"))
                    continue
            chosen.append(i)
        kept[cat] = [candidates[i] for i in chosen]
    return kept, removed


def generate_concepts(
    categories: Iterable[str],
    client: ChatClient,
    taxonomy=None,
    encode_text: Callable[[list[str]], torch.Tensor] | None = None,
    n: int = 12,
    quiet: bool = False,
) -> tuple[dict[str, list[str]], list[Removed]]:
    """Ask ``client`` for concepts of each category (fixed prompt), then filter them.

    ``categories`` are ids or aliases resolved against ``taxonomy`` (default: the
    shipped one); the prompt names each category by its display name, and the
    class-name filter compares against every display name of the taxonomy.
    """
    from tqdm.auto import tqdm

    from web2sky_bench import taxonomy as taxonomy_mod

    tax = taxonomy or taxonomy_mod.load()
    ids = [tax.resolve(c) for c in categories]
    raw: dict[str, list[str]] = {}
    for cid in tqdm(ids, desc="concepts", unit="class", disable=quiet):
        cat = tax.get(cid)
        prompt = USER_PROMPT.format(n=n, super_category=cat.super_category, name=cat.display_name)
        answer = client.complete([{"role": "system", "content": SYSTEM_PROMPT},
                                  {"role": "user", "content": prompt}])
        raw[cid] = parse_concept_list(answer)
    names = {cat.id: cat.display_name for cat in tax}  # LF-CBM: similarity to any class name
    return filter_concepts(raw, names, encode_text)
