"""MAR20: military aircraft recognition (VOC XML, horizontal and oriented boxes, labels A1-A20).

Layout::

    MAR20/
      JPEGImages/<id>.jpg
      Annotations/Horizontal Bounding Boxes/<id>.xml   (<bndbox>)
      Annotations/Oriented Bounding Boxes/<id>.xml     (<robndbox> x_left_top ... y_left_bottom)
      ImageSets/Main/train.txt, test.txt

Horizontal boxes give the chip box; the oriented file (same objects, same
order) adds corners for ``--rotate``. MAR20 has no val list: val is carved
from train (see :mod:`base`). No GSD is published per image.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from web2sky_bench.acquire.importers.base import (
    Importer,
    SourceImage,
    find_image,
    parse_xml,
    read_list,
    require_dir,
)
from web2sky_bench.acquire.importers.voc import voc_objects

HBB_DIR = "Annotations/Horizontal Bounding Boxes"
OBB_DIR = "Annotations/Oriented Bounding Boxes"
#: MAR20 labels A1..A20 (types are mapped by the taxonomy's ``mar20`` column)
LABELS = tuple(f"A{i}" for i in range(1, 21))


class Mar20Importer(Importer):
    """MAR20 VOC XML -> aircraft chips."""

    name = "mar20"
    label_dataset = "mar20"
    title = "MAR20 military aircraft recognition"

    def scan(self, src: Path) -> Iterator[SourceImage]:
        hbb = src / HBB_DIR
        obb = src / OBB_DIR
        if not hbb.is_dir():
            require_dir(obb, "MAR20 annotations (Horizontal or Oriented Bounding Boxes)")
        images = require_dir(src / "JPEGImages", "MAR20 images")
        splits = {
            "train": read_list(src / "ImageSets/Main/train.txt"),
            "test": read_list(src / "ImageSets/Main/test.txt"),
        }
        main_dir = hbb if hbb.is_dir() else obb
        for xml in sorted(main_dir.glob("*.xml")):
            stem = xml.stem
            objects = voc_objects(parse_xml(xml), xml)
            oriented = obb / xml.name
            if main_dir is hbb and oriented.is_file():
                quads = voc_objects(parse_xml(oriented), oriented)
                if [o.label for o in quads] == [o.label for o in objects]:
                    for obj, other in zip(objects, quads):
                        obj.quad = other.quad
            split = next((name for name, ids in splits.items() if stem in ids), None)
            yield SourceImage(key=stem, path=find_image(images, stem), objects=objects, split=split)
