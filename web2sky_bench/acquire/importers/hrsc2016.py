"""HRSC2016: high-resolution ship collection (XML, level-3 Class_ID, rotated ``mbox``).

Layout (the official release; ``Train/`` and ``Test/`` folders with their own
``AllImages``/``Annotations`` are accepted too)::

    HRSC2016/
      FullDataSet/AllImages/<id>.bmp
      FullDataSet/Annotations/<id>.xml
      ImageSets/train.txt, val.txt, trainval.txt, test.txt

Each ``HRSC_Object`` has ``Class_ID`` = ``'1000000'`` + a two-digit class id,
a horizontal box (``box_xmin`` ...) and a rotated box ``mbox_cx, mbox_cy,
mbox_w, mbox_h, mbox_ang`` (radians). ``Img_Resolution`` is the GSD in metres.
The official train/val/test lists are followed (trainval as train, with val
carved from it, when there is no val list). Objects labelled only at level 1/2
(ship, aircraft carrier, warcraft, merchant ship) map to the ``*-other``
categories of the taxonomy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from web2sky_bench.acquire.importers.base import (
    Importer,
    SourceImage,
    SourceObject,
    find_image,
    number,
    optional_float,
    parse_xml,
    read_list,
    text,
)
from web2sky_bench.acquire.importers.geometry import rbox_to_quad
from web2sky_bench.errors import Web2SkyError

#: HRSC2016 class ids (the two digits after ``'1000000'``) and their names, as in the
#: dataset's ``sysdata.xml`` (decorated names such as ``'OXo|--)'`` shortened to their word;
#: ids 21 and 23 are unused). Names are mapped through the taxonomy's ``hrsc2016`` column.
CLASS_NAMES: dict[str, str] = {
    "01": "ship",
    "02": "aircraft carrier",
    "03": "warcraft",
    "04": "merchant ship",
    "05": "Nimitz",
    "06": "Enterprise",
    "07": "Arleigh Burke",
    "08": "Whidbey Island",
    "09": "Perry",
    "10": "San Antonio",
    "11": "Ticonderoga",
    "12": "Kitty Hawk",
    "13": "Kuznetsov",
    "14": "Abukuma",
    "15": "Austen",
    "16": "Tarawa",
    "17": "Blue Ridge",
    "18": "Container",
    "19": "OXo",
    "20": "Car carrier",
    "22": "Hovercraft",
    "24": "yacht",
    "25": "CntShip",
    "26": "Cruise",
    "27": "submarine",
    "28": "lute",
    "29": "Medical",
    "30": "Car carrier (second form)",
    "31": "Ford-class",
    "32": "Midway-class",
    "33": "Invincible-class",
}
CLASS_ID_PREFIX = "1000000"


def class_name(class_id: str, path: Path) -> str:
    """The class name of a full ``Class_ID`` such as ``'100000005'``."""
    if not (len(class_id) == 9 and class_id.startswith(CLASS_ID_PREFIX)) or class_id[7:] not in CLASS_NAMES:
        raise Web2SkyError(
            f"annotation {path}: unknown HRSC2016 Class_ID {class_id!r}; expected '{CLASS_ID_PREFIX}' + one of "
            f"{', '.join(CLASS_NAMES)}"
        )
    return CLASS_NAMES[class_id[7:]]


class Hrsc2016Importer(Importer):
    """HRSC2016 XML -> ship chips."""

    name = "hrsc2016"
    label_dataset = "hrsc2016"
    title = "HRSC2016 high-resolution ship collection"

    def scan(self, src: Path) -> Iterator[SourceImage]:
        full = src / "FullDataSet"
        if (full / "Annotations").is_dir():
            lists = {s: read_list(src / "ImageSets" / f"{s}.txt") for s in ("train", "val", "trainval", "test")}
            has_val = bool(lists["val"])
            train = lists["train"] if has_val else lists["train"] | lists["trainval"]
            order = (("train", train), ("val", lists["val"]), ("test", lists["test"]))
            for xml in sorted((full / "Annotations").glob("*.xml")):
                split = next((name for name, ids in order if xml.stem in ids), None)
                yield self._image(xml, full / "AllImages", split, has_val)
            return
        folders = [
            (d, s) for d, s in ((src / "Train", "train"), (src / "Test", "test")) if (d / "Annotations").is_dir()
        ]
        if not folders:
            raise Web2SkyError(
                f"HRSC2016 annotations not found under {src}: expected FullDataSet/Annotations "
                "(official release) or Train/Annotations and Test/Annotations"
            )
        for folder, split in folders:
            for xml in sorted((folder / "Annotations").glob("*.xml")):
                yield self._image(xml, folder / "AllImages", split, False)

    def _image(self, xml: Path, image_dir: Path, split: str | None, has_val: bool) -> SourceImage:
        root = parse_xml(xml)
        stem = text(root, "Img_FileName") or xml.stem
        fmt = text(root, "Img_FileFmt")
        path = (
            image_dir / f"{stem}.{fmt}"
            if fmt and (image_dir / f"{stem}.{fmt}").is_file()
            else find_image(image_dir, stem)
        )
        objects = []
        for node in root.iter("HRSC_Object"):
            label = class_name(text(node, "Class_ID") or "", xml)
            box = tuple(number(node, t, xml) for t in ("box_xmin", "box_ymin", "box_xmax", "box_ymax"))
            quad = rbox_to_quad(*(number(node, f"mbox_{t}", xml) for t in ("cx", "cy", "w", "h", "ang")))
            difficult = text(node, "difficult", "0") == "1"
            objects.append(SourceObject(label=label, box=box, quad=quad, difficult=difficult))  # type: ignore[arg-type]
        return SourceImage(
            key=stem,
            path=path,
            objects=objects,
            split=split,
            has_val_list=has_val,
            gsd_m=optional_float(text(root, "Img_Resolution")),
        )
