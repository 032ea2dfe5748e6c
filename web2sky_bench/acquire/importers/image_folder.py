"""Import a released track laid out as image folders into a dataset folder.

Accepted layouts (``*`` = image files; folders that are neither a view, a
split nor the class are ignored, e.g. an archive's top folder)::

    <root>/<view>/<split>/<class>/*      the Web2Sky release layout
    <root>/<split>/<view>/<class>/*      train/test on top
    <root>/<split>/<class>/*             no view level: pass view=...
    <root>/<view>/<class>/*              no split level: split "unassigned"

View folders: ``web`` (also ground, internet, photo...) and ``aerial`` (also
sky, satellite, remote-sensing, rs, overhead...). Split folders: train
(training, trainval), val (valid, validation, dev), test (testing). Class
folder names are matched to taxonomy categories through their aliases, in any
case, spacing or punctuation; a class map (CSV ``folder,category`` or JSON
``{"folder": "category"}``) maps the rest. Unknown names end in one error that
lists each with its closest categories.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from web2sky_bench import taxonomy as taxonomy_mod
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import replace_dir
from web2sky_bench.manifest import file_sha256, new_rows, write_card, write_manifest
from web2sky_bench.taxonomy import normalize_label

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
VIEW_WORDS = {
    "web": {"web", "webimages", "ground", "groundview", "internet", "photo", "photos", "webview"},
    "aerial": {"aerial", "aerialview", "aerialimages", "sky", "satellite", "remotesensing", "rs",
               "overhead", "airborne"},
}
SPLIT_WORDS = {
    "train": {"train", "training", "trainval"},
    "val": {"val", "valid", "validation", "dev"},
    "test": {"test", "testing"},
}
_VIEW_OF = {w: v for v, words in VIEW_WORDS.items() for w in words}
_SPLIT_OF = {w: s for s, words in SPLIT_WORDS.items() for w in words}


@dataclass(frozen=True)
class FolderImage:
    """One image found under the source root."""

    path: Path
    rel: str  # relative POSIX path under the source root
    view: str | None
    split: str
    class_name: str


def scan_image_folder(src: str | os.PathLike[str]) -> list[FolderImage]:
    """Find every image under ``src`` and read its view, split and class from its folders."""
    src = Path(src)
    if not src.is_dir():
        raise Web2SkyError(f"image folder not found: {src}")
    found = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(p.startswith(".") or p == "__MACOSX" for p in rel.parts):
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        dirs = rel.parts[:-1]
        if not dirs:
            raise Web2SkyError(f"{path} lies directly in {src}; images must sit in a folder named after their class")
        class_name = dirs[-1]
        if normalize_label(class_name) in _VIEW_OF or normalize_label(class_name) in _SPLIT_OF:
            raise Web2SkyError(
                f"{path}: its folder {class_name!r} is a view or split name, not a class; "
                "expected <view>/<split>/<class>/<image>"
            )
        view = split = None
        for d in dirs[:-1]:
            key = normalize_label(d)
            view = _VIEW_OF.get(key, view)
            split = _SPLIT_OF.get(key, split)
        found.append(FolderImage(path, rel.as_posix(), view, split or "unassigned", class_name))
    if not found:
        raise Web2SkyError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {src}")
    return found


def load_class_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a class map: JSON ``{"folder": "category"}`` or a two-column CSV (header optional)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Web2SkyError(f"cannot read class map {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".json":
        try:
            mapping = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Web2SkyError(f"class map {path} is not valid JSON: {exc}") from exc
        if not isinstance(mapping, dict):
            raise Web2SkyError(f"class map {path} must be a JSON object {{folder: category}}")
        return {str(k): str(v) for k, v in mapping.items()}
    mapping = {}
    for i, row in enumerate(csv.reader(text.splitlines())):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise Web2SkyError(f"class map {path} line {i + 1}: expected 'folder,category', got {row!r}")
        if i == 0 and [c.strip().lower() for c in row] in (["folder", "category"], ["class", "category"]):
            continue
        mapping[row[0].strip()] = row[1].strip()
    return mapping


def resolve_classes(
    names: list[str], tax: taxonomy_mod.Taxonomy, class_map: dict[str, str] | None = None
) -> dict[str, str]:
    """Map folder class names to category ids; one error lists every unknown name."""
    folded_map = {normalize_label(k): v for k, v in (class_map or {}).items()}
    out, unknown = {}, []
    for name in sorted(set(names)):
        target = folded_map.get(normalize_label(name), name)
        try:
            out[name] = tax.resolve(target)
        except Web2SkyError:
            unknown.append((name, target))
    if unknown:
        lines = [f"{len(unknown)} class folder name(s) are not in the taxonomy ({tax.source}):"]
        for name, target in unknown:
            close = tax.closest(target)
            via = f" (mapped to {target!r})" if target != name else ""
            lines.append(f"  {name!r}{via}: closest matches: {', '.join(close) if close else 'none'}")
        lines.append("map them with --class-map FILE (CSV lines 'folder,category' or a JSON object)")
        raise Web2SkyError("\n".join(lines))
    return out


def import_image_folder(
    src: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    name: str,
    version: str = "1",
    source: str | None = None,
    view: str | None = None,
    class_map: dict[str, str] | str | os.PathLike[str] | None = None,
    link: bool = False,
    force: bool = False,
    quiet: bool = False,
) -> Path:
    """Turn an image-folder release under ``src`` into the dataset folder ``out_dir``.

    ``view`` fills in the view for layouts without a view level. ``class_map``
    is a mapping or a class-map file. ``link`` hard-links images instead of
    copying them (same file system only; falls back to copying). The folder is
    built next to ``out_dir`` and renamed into place; an existing ``out_dir``
    needs ``force``. Returns ``out_dir``.
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise Web2SkyError(f"{out_dir} already exists; pass --force to rebuild it")
    if view is not None and view not in VIEW_WORDS:
        raise Web2SkyError(f"view must be one of {', '.join(VIEW_WORDS)}, got {view!r}")
    images = scan_image_folder(src)
    missing_view = [im for im in images if im.view is None]
    if missing_view and view is None:
        raise Web2SkyError(
            f"{len(missing_view)} image(s) have no view folder (web/aerial), e.g. {missing_view[0].rel}; "
            "pass --view web or --view aerial"
        )
    if class_map is not None and not isinstance(class_map, dict):
        class_map = load_class_map(class_map)
    tax = taxonomy_mod.load()
    categories = resolve_classes([im.class_name for im in images], tax, class_map)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".importing", dir=out_dir.parent))
    rows, unreadable = [], []
    try:
        for im in tqdm(images, desc=f"import {name}", unit="img", disable=quiet):
            try:
                with Image.open(im.path) as pic:
                    width, height = pic.size
            except (UnidentifiedImageError, OSError):
                unreadable.append(im.rel)
                continue
            image_id = f"{name}-{hashlib.sha1(im.rel.encode()).hexdigest()[:16]}"
            v = im.view or view
            category = categories[im.class_name]
            rel_out = f"images/{v}/{im.split}/{category}/{image_id}{im.path.suffix.lower()}"
            place_file(im.path, tmp / rel_out, link)
            rows.append({
                "image_id": image_id, "view": v, "super_category": tax.get(category).super_category,
                "category": category, "split": im.split, "path": rel_out,
                "sha256": file_sha256(tmp / rel_out), "width": width, "height": height,
                "source": source or name, "issues": [],
            })
        if not rows:
            raise Web2SkyError(f"none of the {len(images)} images under {src} could be read")
        write_manifest(new_rows(rows), tmp)
        write_card(tmp, name, version, importer="image-folder", unreadable_skipped=unreadable)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def place_file(src: Path, dst: Path, link: bool = False) -> None:
    """Copy (or hard-link, when ``link`` and possible) ``src`` to ``dst``, creating folders."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)
