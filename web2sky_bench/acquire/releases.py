"""The release registry: ``manifests/releases.json`` and its loader.

Each known dataset has a title, homepage, license, a ``kind`` (``download``:
fetched over HTTP; ``manual``: the user fetches the archive and passes
``--archive``; ``generated``: built locally) and its files with mirrors, sizes
and checksums where known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.manifest import CARD_FILE, MANIFEST_FILE
from web2sky_bench.paths import dataset_dir, manifests_dir

KINDS = ("download", "manual", "generated")


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release: its name, mirror URLs, size and sha256 when known."""

    name: str
    urls: tuple[str, ...] = ()
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Release:
    """A known dataset and where it comes from."""

    name: str
    title: str
    homepage: str
    license: str
    kind: str
    files: tuple[ReleaseFile, ...] = ()
    manual_instructions: str | None = None
    extra: dict = field(default_factory=dict)


def load_registry(path: str | Path | None = None) -> dict[str, Release]:
    """Load the release registry (default: the shipped ``manifests/releases.json``)."""
    path = Path(path) if path else manifests_dir() / "releases.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise Web2SkyError(f"cannot read release registry {path}: {exc}") from exc
    releases = {}
    for name, entry in raw.get("datasets", {}).items():
        entry = dict(entry)
        kind = entry.pop("kind", "download")
        if kind not in KINDS:
            raise Web2SkyError(f"{path}: dataset {name!r} has unknown kind {kind!r}")
        files = tuple(
            ReleaseFile(f["name"], tuple(f.get("urls", ())), f.get("size"), f.get("sha256"))
            for f in entry.pop("files", ())
        )
        releases[name] = Release(
            name=name,
            title=entry.pop("title", name),
            homepage=entry.pop("homepage", ""),
            license=entry.pop("license", "unknown"),
            kind=kind,
            files=files,
            manual_instructions=entry.pop("manual_instructions", None),
            extra=entry,
        )
    return releases


def get_release(name: str) -> Release:
    """The registry entry for ``name``, or an error listing the known names."""
    registry = load_registry()
    if name not in registry:
        raise Web2SkyError(f"unknown dataset {name!r}; known: {', '.join(sorted(registry))}")
    return registry[name]


GENERATED_SIZES = ("mini", "standard")


def is_present(name: str, root: str | Path | None = None) -> bool:
    """Whether dataset ``name`` is on disk (its manifest and card exist).

    A generated dataset counts when any of its sizes (``<name>-mini``,
    ``<name>-standard``) is there.
    """
    folders = [dataset_dir(name, root)]
    registry = load_registry()
    if name in registry and registry[name].kind == "generated":
        folders += [dataset_dir(f"{name}-{size}", root) for size in GENERATED_SIZES]
    return any((f / MANIFEST_FILE).is_file() and (f / CARD_FILE).is_file() for f in folders)
