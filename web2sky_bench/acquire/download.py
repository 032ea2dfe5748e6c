"""``web2sky-bench download NAME``: get a known dataset onto disk, idempotently.

* kind ``generated`` (web2sky-synth): built locally by :mod:`web2sky_bench.synth`.
* kind ``download``: each registry file is fetched with :class:`HttpClient`
  (mirrors in order, ``--mirror`` first), resumed if interrupted, verified
  against its sha256 (or, when the registry has none, its computed checksum is
  recorded in ``checksums.json`` and checked on later runs), safely extracted
  and imported.
* kind ``manual``: without ``--archive`` the user gets the instructions (link,
  password) and exit status 2; with ``--archive`` the file is verified the same
  way, safely extracted and imported.

Import goes by the release's ``layout``: ``image-folder`` (this area's
importer) or a format of :mod:`web2sky_bench.acquire.importers.registry`
(MAR20, HRSC2016, ShipRSImageNet, DOTA, FAIR1M, FGSC-23) or FGVC-Aircraft
(:mod:`web2sky_bench.acquire.fgvc_aircraft`).

Downloads and extractions live under ``$WEB2SKY_HOME/cache/downloads/<name>``;
the dataset folder under the datasets root. A second run verifies and returns.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from web2sky_bench.acquire.releases import Release, ReleaseFile, get_release, is_present
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import write_json
from web2sky_bench.manifest import CARD_FILE, MANIFEST_FILE, file_sha256, read_card, read_manifest
from web2sky_bench.paths import cache_dir, dataset_dir

CHECKSUMS_FILE = "checksums.json"
EXTRACT_MARK = ".web2sky-extracted.json"


@dataclass
class DownloadSummary:
    """What a ``download`` run did; :meth:`format` is the closing summary."""

    name: str
    action: str  # generated, downloaded and imported, imported, present, verified
    path: Path | None = None
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    checksums: list[str] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)

    def format(self) -> str:
        """The closing summary: files, bytes, time and checksum status."""
        lines = [
            f"{self.name}: {self.action}: {self.files} file(s), {_human(self.bytes)} in {self.seconds:.1f} s"
            + (f" -> {self.path}" if self.path else "")
        ]
        lines += [f"  transfer: {t}" for t in self.transfers]
        lines += [f"  checksum: {c}" for c in self.checksums]
        return "\n".join(lines)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def downloads_dir(name: str) -> Path:
    """Where the archives and extractions of dataset ``name`` are kept."""
    return cache_dir("downloads") / name


def manual_message(rel: Release) -> str:
    """The instructions for a dataset that must be fetched by hand."""
    lines = [f"{rel.name} ({rel.title}) must be downloaded by hand; license: {rel.license}."]
    if rel.extra.get("download_page"):
        pw = rel.extra.get("password")
        lines.append(f"  download page: {rel.extra['download_page']}" + (f"  (password: {pw})" if pw else ""))
    lines.append(f"  {rel.manual_instructions or f'get it from {rel.homepage}'}")
    if rel.extra.get("expected_layout"):
        lines.append(f"  expected layout inside the archive: {rel.extra['expected_layout']}")
    if "--archive" not in (rel.manual_instructions or ""):
        lines.append(f"then run: web2sky-bench download {rel.name} --archive FILE")
    return "\n".join(lines)


def download_dataset(
    name: str,
    *,
    root: str | os.PathLike[str] | None = None,
    archive: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    force: bool = False,
    verify_only: bool = False,
    size: str = "mini",
    seed: int = 0,
    view: str | None = None,
    class_map: str | os.PathLike[str] | None = None,
    quiet: bool = False,
    client=None,
) -> DownloadSummary:
    """Download (or generate, or import from ``archive``) dataset ``name``; see the module doc."""
    rel = get_release(name)
    t0 = time.monotonic()
    if rel.kind == "generated":
        summary = _generated(rel, root, size, seed, force, verify_only, quiet)
    elif verify_only:
        summary = _verify(rel, root)
    elif is_present(name, root) and not force and archive is None:
        summary = _quick_check(rel, dataset_dir(name, root))
    elif rel.kind == "manual" and archive is None:
        raise Web2SkyError(manual_message(rel))
    else:
        summary = _fetch_and_import(rel, root, archive, mirror, force, view, class_map, quiet, client)
    summary.seconds = time.monotonic() - t0
    return summary


# -- generated -------------------------------------------------------------

def _generated(rel, root, size, seed, force, verify_only, quiet) -> DownloadSummary:
    from web2sky_bench import synth  # written by the synth area; imported lazily

    folder = dataset_dir(f"{rel.name}-{size}", root)
    if verify_only:
        return _verify_folder(rel.name, folder)
    existed = (folder / MANIFEST_FILE).is_file()
    if force:
        folder = Path(synth.generate_dataset(folder, size=size, seed=seed, quiet=quiet, force=True))
    else:
        folder = Path(synth.ensure_dataset(size=size, seed=seed, root=root, quiet=quiet))
    summary = _verify_folder(rel.name, folder, full=False)
    summary.action = "present" if existed and not force else "generated"
    return summary


# -- verification ----------------------------------------------------------

def _verify_folder(name: str, folder: Path, full: bool = True) -> DownloadSummary:
    """Check a dataset folder: card vs manifest checksum, every file present (and its sha256 if ``full``)."""
    if not (folder / MANIFEST_FILE).is_file():
        raise Web2SkyError(
            f"{name} is not on disk ({folder} has no {MANIFEST_FILE}); run: web2sky-bench download {name}"
        )
    card = read_card(folder)
    manifest_sha = file_sha256(folder / MANIFEST_FILE)
    if card.get("manifest_sha256") not in (None, manifest_sha):
        raise Web2SkyError(
            f"{folder / MANIFEST_FILE} does not match its {CARD_FILE} (sha256 {manifest_sha}, card says "
            f"{card['manifest_sha256']}); re-run with --force to rebuild it"
        )
    frame = read_manifest(folder)
    missing, bad, total = [], [], 0
    for rel_path, sha in zip(frame["path"], frame["sha256"], strict=True):
        path = folder / rel_path
        if not path.is_file():
            missing.append(rel_path)
            continue
        total += path.stat().st_size
        if full and file_sha256(path) != sha:
            bad.append(rel_path)
    if missing or bad:
        shown = [f"missing {p}" for p in missing[:5]] + [f"sha256 mismatch {p}" for p in bad[:5]]
        raise Web2SkyError(
            f"{folder}: {len(missing)} missing and {len(bad)} corrupt file(s): {'; '.join(shown)}; "
            "re-run with --force to rebuild"
        )
    what = "every image sha256 verified" if full else "manifest matches its card, every image present"
    return DownloadSummary(name, "verified" if full else "present", folder, len(frame), total,
                           checksums=[f"{MANIFEST_FILE} sha256 {manifest_sha[:16]}...; {what}"])


def _quick_check(rel: Release, folder: Path) -> DownloadSummary:
    summary = _verify_folder(rel.name, folder, full=False)
    summary.action = "present"
    return summary


def _verify(rel: Release, root) -> DownloadSummary:
    """``--verify-only``: check cached downloads against their checksums and the dataset folder."""
    notes, files, total = [], 0, 0
    recorded = _read_checksums(rel.name)
    for f in rel.files:
        path = downloads_dir(rel.name) / f.name
        if not path.is_file():
            notes.append(f"{f.name}: not downloaded")
            continue
        notes.append(_check_file(rel, f.name, path, f.sha256, f.size, recorded, record=False))
        files, total = files + 1, total + path.stat().st_size
    listed = {f.name for f in rel.files}
    for label, entry in sorted(recorded.items()):  # archives given with --archive
        path = Path(entry.get("path", ""))
        if label in listed or not entry.get("path"):
            continue
        if not path.is_file():
            notes.append(f"{label}: the archive imported from {path} is no longer there (not checked)")
            continue
        notes.append(_check_file(rel, label, path, None, None, recorded, record=False))
        files, total = files + 1, total + path.stat().st_size
    folder = dataset_dir(rel.name, root)
    if (folder / MANIFEST_FILE).is_file():
        summary = _verify_folder(rel.name, folder)
        summary.checksums = notes + summary.checksums
        return summary
    if not files:
        raise Web2SkyError(f"{rel.name} is not on disk; run: web2sky-bench download {rel.name}")
    return DownloadSummary(rel.name, "verified", downloads_dir(rel.name), files, total, checksums=notes)


def _read_checksums(name: str) -> dict:
    path = downloads_dir(name) / CHECKSUMS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise Web2SkyError(f"cannot read {path}: {exc}; delete it to re-record checksums") from exc


def _check_file(rel: Release, label: str, path: Path, sha256: str | None, size: int | None,
                recorded: dict, record: bool, digest: str | None = None) -> str:
    """Verify one file; record its checksum when the registry has none. Returns a status line."""
    digest = digest or file_sha256(path)
    nbytes = path.stat().st_size
    if sha256:
        if digest != sha256.lower():
            raise Web2SkyError(
                f"checksum mismatch for {path}: sha256 {digest}, the registry expects {sha256}; "
                "the file is corrupt or a different release: download it again"
            )
        return f"{label}: sha256 verified against the registry ({digest[:16]}...)"
    if size is not None and nbytes != size:
        raise Web2SkyError(f"size mismatch for {path}: {nbytes} bytes, the registry expects {size}")
    known = recorded.get(label, {}).get("sha256")
    if known and known != digest:
        raise Web2SkyError(
            f"checksum mismatch for {path}: sha256 {digest}, but {known} was recorded when it was "
            f"first fetched ({downloads_dir(rel.name) / CHECKSUMS_FILE}); re-download it, or delete "
            "that record if the release changed"
        )
    if known:
        return f"{label}: sha256 matches the one recorded on first download ({digest[:16]}...)"
    if record:
        recorded[label] = {"sha256": digest, "size": nbytes, "path": str(path.resolve()),
                           "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_json(downloads_dir(rel.name) / CHECKSUMS_FILE, recorded)
    return (f"{label}: no checksum in the registry; computed sha256 {digest} ({nbytes} bytes), "
            f"recorded in {downloads_dir(rel.name) / CHECKSUMS_FILE}")


# -- fetch, extract, import ------------------------------------------------

def _mirror_urls(f: ReleaseFile, mirror: str | None) -> list[str]:
    urls = list(f.urls)
    if mirror:
        m = mirror if mirror.endswith(f.name) else mirror.rstrip("/") + "/" + f.name
        urls.insert(0, m)
    return urls


def _fetch(rel: Release, mirror, force, quiet, client) -> tuple[list[tuple[Path, str]], list[str], list[str]]:
    from web2sky_bench.io.http import HttpClient, HttpError

    if not rel.files:
        raise Web2SkyError(f"{rel.name}: the registry lists no files to download")
    own = client is None
    client = client or HttpClient()
    paths, notes, transfers = [], [], []
    recorded = _read_checksums(rel.name)
    try:
        for f in rel.files:
            urls = _mirror_urls(f, mirror)
            if not urls:
                raise Web2SkyError(f"{rel.name}: no URL for {f.name}; pass --mirror URL")
            dest = downloads_dir(rel.name) / f.name
            expected = f.sha256 or recorded.get(f.name, {}).get("sha256")
            errors = []
            for url in urls:
                try:
                    res = client.download(url, dest, sha256=expected, size=f.size, force=force, quiet=quiet,
                                          desc=f.name)
                    break
                except HttpError as exc:
                    errors.append(f"{url}: {exc}")
            else:
                raise Web2SkyError(f"could not download {f.name} from any mirror:\n  " + "\n  ".join(errors))
            if res.skipped:
                transfers.append(f"{f.name}: already downloaded")
            else:
                resumed = f", resumed at {_human(res.resumed_from)}" if res.resumed_from else ""
                transfers.append(f"{f.name}: {_human(res.downloaded)} from {url}{resumed}")
            notes.append(_check_file(rel, f.name, dest, f.sha256, f.size, recorded, record=True,
                                     digest=res.sha256))
            paths.append((dest, res.sha256))
    finally:
        if own:
            client.close()
    return paths, notes, transfers


def _extract(rel: Release, archive: Path, digest: str, force: bool) -> Path:
    """Safely extract ``archive`` once per checksum under the downloads folder."""
    from web2sky_bench.io.archives import safe_extract

    name = archive.name
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    target = downloads_dir(rel.name) / "extracted" / name
    mark = target / EXTRACT_MARK
    if target.is_dir() and not force and mark.is_file():
        try:
            if json.loads(mark.read_text(encoding="utf-8")).get("sha256") == digest:
                return target
        except (OSError, json.JSONDecodeError):
            pass
    safe_extract(archive, target, overwrite=True)
    write_json(mark, {"archive": str(archive), "sha256": digest})
    return target


def dataset_root(folder: Path) -> Path:
    """Step into an archive's single top folder(s): ``x/MAR20/`` -> ``x/MAR20`` when it is all there is."""
    while True:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(entries) != 1 or not entries[0].is_dir():
            return folder
        folder = entries[0]


def _fetch_and_import(rel, root, archive, mirror, force, view, class_map, quiet, client) -> DownloadSummary:
    recorded = _read_checksums(rel.name)
    transfers: list[str] = []
    if archive is not None:
        archive = Path(archive).expanduser()
        if not archive.is_file():
            raise Web2SkyError(f"archive not found: {archive}")
        digest = file_sha256(archive)
        known = [f for f in rel.files if f.sha256]
        match = next((f for f in known if f.sha256.lower() == digest), None)
        if known and match is None:
            raise Web2SkyError(
                f"{archive} (sha256 {digest}) matches none of the {rel.name} files in the registry "
                f"({', '.join(f.name for f in known)}); is it the right, complete download?"
            )
        label = match.name if match else archive.name
        note = _check_file(rel, label, archive, match.sha256 if match else None, None, recorded,
                           record=True, digest=digest)
        archives, notes = [(archive, digest)], [note]
    else:
        archives, notes, transfers = _fetch(rel, mirror, force, quiet, client)
    extracted = [_extract(rel, path, digest, force) for path, digest in archives]
    src = extracted[0] if len(extracted) == 1 else extracted[0].parent
    out = dataset_dir(rel.name, root)
    _import(rel, src, out, view, class_map, quiet)
    summary = _verify_folder(rel.name, out, full=False)
    fetched = any(not t.endswith("already downloaded") for t in transfers)
    summary.action = "downloaded and imported" if fetched else "imported"
    summary.checksums = notes + summary.checksums
    summary.transfers = transfers
    return summary


def _import(rel: Release, src: Path, out: Path, view, class_map, quiet: bool) -> None:
    """Build the dataset folder ``out`` from the extracted release by its layout."""
    from web2sky_bench.acquire.importers.registry import FORMATS, import_dataset

    layout = rel.extra.get("layout")
    if layout == "image-folder":
        from web2sky_bench.acquire.importers.image_folder import import_image_folder

        import_image_folder(src, out, name=rel.name, source=rel.name, view=view, class_map=class_map,
                            link=True, force=True, quiet=quiet)
    elif layout == "fgvc-aircraft":
        from web2sky_bench.acquire.fgvc_aircraft import import_fgvc_aircraft

        import_fgvc_aircraft(src, out, name=rel.name, link=True, force=True, quiet=quiet)
    elif layout in FORMATS:
        import_dataset(layout, dataset_root(src), out, quiet=quiet, force=True, name=rel.name)
    else:
        raise Web2SkyError(f"{rel.name}: no importer for layout {layout!r}; the release is extracted at {src}")
