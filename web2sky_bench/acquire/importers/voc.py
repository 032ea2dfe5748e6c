"""Pascal-VOC style XML objects (MAR20, ShipRSImageNet): horizontal boxes, oriented corners."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from web2sky_bench.acquire.importers.base import SourceObject, number, text
from web2sky_bench.acquire.importers.geometry import rbox_to_quad

#: DIOR-R / MAR20 oriented box corner tags, in drawing order
ROBNDBOX_CORNERS = ("left_top", "right_top", "right_bottom", "left_bottom")


def voc_objects(root: ET.Element, path: Path, label_tags: tuple[str, ...] = ("name",)) -> list[SourceObject]:
    """Parse every ``<object>``: the first present label tag, ``<bndbox>``, ``<robndbox>`` or ``<polygon>``.

    ``<robndbox>`` is read in the DIOR-R/MAR20 corner form (``x_left_top`` ...
    ``y_left_bottom``) or the roLabelImg form (``cx cy w h angle``).
    """
    objects = []
    for node in root.iter("object"):
        label = next((t for t in (text(node, tag) for tag in label_tags) if t), None)
        if label is None:
            continue
        quad = None
        rob = node.find("robndbox")
        poly = node.find("polygon")
        if rob is not None and rob.find("cx") is not None:  # roLabelImg: centre, size, angle (radians)
            quad = rbox_to_quad(*(number(rob, t, path) for t in ("cx", "cy", "w", "h", "angle")))
        elif rob is not None:
            quad = tuple((number(rob, f"x_{c}", path), number(rob, f"y_{c}", path)) for c in ROBNDBOX_CORNERS)
        elif poly is not None and poly.find("x1") is not None:
            quad = tuple((number(poly, f"x{i}", path), number(poly, f"y{i}", path)) for i in range(1, 5))
        bnd = node.find("bndbox")
        if bnd is not None:
            box = tuple(number(bnd, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
        elif quad is not None:
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            box = (min(xs), min(ys), max(xs), max(ys))
        else:
            continue
        difficult = text(node, "difficult", "0") in ("1", "true", "True")
        objects.append(SourceObject(label=label, box=box, quad=quad, difficult=difficult))  # type: ignore[arg-type]
    return objects
