"""The model registry: one line per model, imported lazily.

``MODELS`` maps a registry name to ``"module:Class"``; the class is imported
only when :func:`get_model` asks for it, so listing models stays cheap. To add
a model, write one :class:`~web2sky_bench.models.base.Model` subclass and add
one line here.
"""

from __future__ import annotations

import difflib
import importlib

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.models.base import Model

_B = "web2sky_bench.models.baselines"
_V = "web2sky_bench.models.cva"
_C = "web2sky_bench.models.cca"

MODELS: dict[str, str] = {
    # baselines
    "zeroshot": f"{_B}:ZeroShot",
    "zeroshot-descriptors": f"{_B}:ZeroShotDescriptors",
    "linear-probe": f"{_B}:LinearProbe",
    "aerial-only": f"{_B}:AerialOnly",
    "joint": f"{_B}:Joint",
    "tip-adapter-f": f"{_B}:TipAdapterF",
    # CVA: cross-view visual alignment
    "cva-mmd": f"{_V}:MMD",
    "cva-coral": f"{_V}:CORAL",
    "cva-dann": f"{_V}:DANN",
    "cva-supcon": f"{_V}:SupCon",
    "cva-proto": f"{_V}:PrototypeAlign",
    "cva-distill": f"{_V}:Distill",
    # CCA: cross-view conceptual alignment (reference) and its ablations
    "cca": f"{_C}:CCA",
    "cca-softmax": f"{_C}:CCASoftmax",
    "cca-dirmean": f"{_C}:CCADirichletMean",
    "cca-noalign": f"{_C}:CCANoAlign",
    "cca-shared": f"{_C}:CCASharedProjection",
    "cca-concat": f"{_C}:CCAConcat",
    "cca-add": f"{_C}:CCAAdd",
}


def get_model(name: str) -> type[Model]:
    """The model class registered under ``name``.

    Raises :class:`Web2SkyError` naming the closest registered names when
    ``name`` is unknown.
    """
    target = MODELS.get(name)
    if target is None:
        close = difflib.get_close_matches(name, list(MODELS), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise Web2SkyError(
            f"unknown model {name!r}{hint} (run `web2sky-bench models` for the list)"
        )
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise TypeError(f"registry entry {name!r} -> {target} is not a Model subclass")
    return cls


def list_models() -> list[tuple[str, str]]:
    """Every registered model as (name, one-line description), in registry order."""
    return [(name, get_model(name).description) for name in MODELS]
