"""Safe extraction of zip and tar (gz, bz2, xz) archives.

:func:`safe_extract` checks every member *before* writing anything and refuses:
absolute paths (also ``C:\\`` and ``\\\\server`` forms), ``..`` escapes, links
whose target leaves the folder, device files and FIFOs, and archives whose
member count or expanded size passes a limit, or that expand more than
``max_ratio`` times their own size (bombs). While writing it counts the bytes
really produced, so a zip whose headers understate sizes is caught too. It
extracts into a temp folder next to the target and renames it into place, so
the target either appears complete or not at all.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import replace_dir

MAX_MEMBERS = 2_000_000
MAX_TOTAL_BYTES = 512 * 1024**3  # 512 GiB: FAIR1M-scale releases fit
MAX_RATIO = 200.0  # expanded / archive size, checked once the expansion passes RATIO_FLOOR
RATIO_FLOOR = 64 * 1024**2
_COPY_CHUNK = 1 << 20


class ArchiveError(Web2SkyError):
    """An archive that is unreadable or unsafe to extract."""


@dataclass(frozen=True)
class _Member:
    name: str  # normalised relative POSIX path
    kind: str  # "file", "dir", "symlink", "hardlink"
    size: int
    link: str | None = None
    mode: int = 0o644


@dataclass(frozen=True)
class ExtractResult:
    """What :func:`safe_extract` wrote."""

    path: Path
    files: int
    bytes: int


def archive_format(path: str | os.PathLike[str]) -> str:
    """``"zip"`` or ``"tar"`` by content (not extension), else an :class:`ArchiveError`."""
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"archive not found: {path}")
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, tarfile.TarError, EOFError):
        pass
    raise ArchiveError(f"{path} is not a zip or tar(.gz/.bz2/.xz) archive (or it is truncated)")


def _clean_name(raw: str, archive: Path) -> str:
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or raw.startswith("\\\\"):
        raise ArchiveError(f"{archive}: refusing absolute path {raw!r}")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"{archive}: refusing path {raw!r} that escapes the target with '..'")
    return "/".join(parts)


def _check_link(member: _Member, archive: Path) -> None:
    target = member.link or ""
    if target.startswith("/") or (len(target) > 1 and target[1] == ":") or "\\" in target:
        raise ArchiveError(f"{archive}: refusing link {member.name!r} -> {target!r} (absolute target)")
    if member.kind == "symlink":
        base = PurePosixPath(member.name).parent.parts
    else:  # a hard link names another member, relative to the archive root
        base = ()
    depth = list(base)
    for part in PurePosixPath(target).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not depth:
                raise ArchiveError(
                    f"{archive}: refusing link {member.name!r} -> {target!r} pointing outside the target"
                )
            depth.pop()
        else:
            depth.append(part)


def _tar_members(tar: tarfile.TarFile, archive: Path) -> list[tuple[_Member, tarfile.TarInfo]]:
    out = []
    for info in tar:
        name = _clean_name(info.name, archive)
        if info.isdir():
            kind = "dir"
        elif info.isreg():
            kind = "file"
        elif info.issym():
            kind = "symlink"
        elif info.islnk():
            kind = "hardlink"
        else:
            raise ArchiveError(
                f"{archive}: refusing special member {info.name!r} (device, FIFO or other non-file)"
            )
        link = None
        if kind == "hardlink":
            link = _clean_name(info.linkname, archive)
        elif kind == "symlink":
            link = info.linkname
        out.append((_Member(name, kind, info.size if kind == "file" else 0, link, info.mode), info))
    return out


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> list[tuple[_Member, zipfile.ZipInfo]]:
    out = []
    for info in zf.infolist():
        name = _clean_name(info.filename, archive)
        unix_mode = info.external_attr >> 16
        if info.is_dir():
            kind = "dir"
        elif stat.S_ISLNK(unix_mode):
            kind = "symlink"
        elif stat.S_IFMT(unix_mode) and not stat.S_ISREG(unix_mode):
            raise ArchiveError(f"{archive}: refusing special member {info.filename!r} (mode {oct(unix_mode)})")
        else:
            kind = "file"
        link = None
        if kind == "symlink":
            if info.file_size > 4096:
                raise ArchiveError(f"{archive}: refusing symlink {info.filename!r} with a huge target")
            link = zf.read(info).decode("utf-8", "replace")
        out.append((_Member(name, kind, info.file_size if kind == "file" else 0, link,
                            (unix_mode & 0o777) or 0o644), info))
    return out


def _check_limits(members: list[_Member], archive: Path, max_members: int, max_bytes: int,
                  max_ratio: float) -> int:
    if len(members) > max_members:
        raise ArchiveError(f"{archive}: {len(members)} members pass the limit of {max_members} (archive bomb?)")
    total = sum(m.size for m in members)
    if total > max_bytes:
        raise ArchiveError(
            f"{archive}: expands to {total} bytes, past the limit of {max_bytes} (archive bomb?)"
        )
    packed = max(1, archive.stat().st_size)
    if total > RATIO_FLOOR and total / packed > max_ratio:
        raise ArchiveError(
            f"{archive}: expands {total / packed:.0f}x ({total} bytes from {packed}); "
            f"the limit is {max_ratio:.0f}x (archive bomb?)"
        )
    return total


def _copy_capped(src, dst_path: Path, declared: int, budget: list[int], archive: Path, name: str) -> int:
    written = 0
    with open(dst_path, "wb") as out:
        while block := src.read(_COPY_CHUNK):
            written += len(block)
            budget[0] -= len(block)
            if written > declared or budget[0] < 0:
                raise ArchiveError(
                    f"{archive}: member {name!r} expands past its declared size or the byte limit (archive bomb?)"
                )
            out.write(block)
    return written


def safe_extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: float = MAX_RATIO,
    overwrite: bool = False,
) -> ExtractResult:
    """Extract ``archive`` (zip or tar, any compression) into the folder ``dest``.

    Every member is checked before anything is written (see the module doc);
    files land in a temp folder next to ``dest`` that is renamed onto it at the
    end. An existing ``dest`` is an error unless ``overwrite``.
    """
    archive, dest = Path(archive), Path(dest)
    fmt = archive_format(archive)
    if dest.exists() and not overwrite:
        raise ArchiveError(f"{dest} already exists; pass overwrite=True (--force) to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = zipfile.ZipFile(archive) if fmt == "zip" else tarfile.open(archive, "r:*")
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"cannot open {archive}: {exc}") from exc
    with handle:
        try:
            pairs = _zip_members(handle, archive) if fmt == "zip" else _tar_members(handle, archive)
        except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            raise ArchiveError(f"{archive} is corrupt or truncated: {exc}") from exc
        members = [m for m, _ in pairs]
        for m in members:
            if m.kind in ("symlink", "hardlink"):
                _check_link(m, archive)
        total = _check_limits(members, archive, max_members, max_bytes, max_ratio)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=dest.parent))
        try:
            files, written = _write_members(handle, fmt, pairs, tmp, archive, min(max_bytes, total))
            replace_dir(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return ExtractResult(dest, files, written)


def _write_members(handle, fmt: str, pairs, tmp: Path, archive: Path, budget_bytes: int) -> tuple[int, int]:
    budget = [budget_bytes]
    files = written = 0
    links = []
    for member, info in pairs:
        if not member.name:
            continue
        target = tmp / member.name
        if member.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            # A later member of the same name replaces an earlier one; never write through a link.
            if target.is_dir() and not target.is_symlink():
                raise ArchiveError(f"{archive}: member {member.name!r} clashes with a folder")
            target.unlink()
        if member.kind in ("symlink", "hardlink"):
            links.append(member)
            continue
        try:
            src = handle.open(info) if fmt == "zip" else handle.extractfile(info)
            with src:
                written += _copy_capped(src, target, member.size, budget, archive, member.name)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
            if isinstance(exc, ArchiveError):
                raise
            raise ArchiveError(f"{archive}: cannot read member {member.name!r}: {exc}") from exc
        os.chmod(target, (member.mode & 0o755) | 0o600)
        files += 1
    root = os.path.realpath(tmp)
    for member in links:  # after the files, so hard links find their targets
        target = tmp / member.name
        if target.exists() or target.is_symlink():
            raise ArchiveError(f"{archive}: link {member.name!r} clashes with another member")
        if member.kind == "symlink":
            os.symlink(member.link, target)
        else:
            source = tmp / member.link
            if not source.is_file() or source.is_symlink():
                raise ArchiveError(f"{archive}: hard link {member.name!r} -> {member.link!r} has no file target")
            os.link(source, target)
        files += 1
    for member in links:  # chains of links can escape where each one alone does not
        real = os.path.realpath(tmp / member.name)
        if real != root and not real.startswith(root + os.sep):
            raise ArchiveError(f"{archive}: refusing link {member.name!r} that resolves outside the target")
    return files, written
