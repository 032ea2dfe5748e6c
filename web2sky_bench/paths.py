"""Where web2sky-bench keeps its data.

``WEB2SKY_HOME`` (default ``~/.cache/web2sky``) holds ``datasets/<name>`` and
caches; every command that touches datasets takes ``--root`` to override the
datasets folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_MANIFESTS_DIR = PACKAGE_DIR.parent / "manifests"


def home() -> Path:
    """The web2sky home folder: ``$WEB2SKY_HOME`` or ``~/.cache/web2sky``."""
    env = os.environ.get("WEB2SKY_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "web2sky"


def datasets_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding one sub-folder per dataset (``--root`` wins)."""
    return Path(root).expanduser() if root else home() / "datasets"


def dataset_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of dataset ``name`` under the datasets root."""
    return datasets_root(root) / name


def cache_dir(kind: str) -> Path:
    """A cache folder under home, e.g. ``cache_dir("features")``."""
    return home() / "cache" / kind


def manifests_dir() -> Path:
    """The repository's ``manifests/`` folder (taxonomy, concepts, releases)."""
    return REPO_MANIFESTS_DIR
