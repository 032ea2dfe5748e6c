"""Safe extraction: each archive attack is refused and nothing lands outside the target."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from web2sky_bench.io.archives import ArchiveError, archive_format, safe_extract


def _zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def sandbox(tmp_path):
    """A folder holding the archive and the target; nothing else may appear in it."""
    (tmp_path / "arc").mkdir()
    return tmp_path


def _refused(sandbox: Path, archive: Path, match: str, **kw) -> None:
    before = _snapshot(sandbox)
    with pytest.raises(ArchiveError, match=match):
        safe_extract(archive, sandbox / "out", **kw)
    assert _snapshot(sandbox) == before  # no target, no temp folder, nothing outside
    assert not (sandbox.parent / "evil.txt").exists()


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_tar_round_trip(sandbox, mode):
    arc = _tar(sandbox / "arc" / "ok.tar", [("top/a.txt", b"aaa"), ("top/sub/b.txt", b"bb"),
                                           _link("top/ln", "sub/b.txt")], mode)
    res = safe_extract(arc, sandbox / "out")
    assert res.files == 3 and res.bytes == 5
    assert (sandbox / "out/top/sub/b.txt").read_bytes() == b"bb"
    assert (sandbox / "out/top/ln").read_bytes() == b"bb"
    assert archive_format(arc) == "tar"


def test_zip_round_trip_and_overwrite(sandbox):
    arc = _zip(sandbox / "arc" / "ok.zip", {"d/x.txt": b"x", "d/e/": b""})
    safe_extract(arc, sandbox / "out")
    assert (sandbox / "out/d/x.txt").read_bytes() == b"x" and (sandbox / "out/d/e").is_dir()
    with pytest.raises(ArchiveError, match="already exists"):
        safe_extract(arc, sandbox / "out")
    safe_extract(arc, sandbox / "out", overwrite=True)
    assert sorted(p.name for p in sandbox.iterdir()) == ["arc", "out"]


def test_zip_slip_refused(sandbox):
    arc = _zip(sandbox / "arc" / "slip.zip", {"ok.txt": b"1", "../../evil.txt": b"pwned"})
    _refused(sandbox, arc, "escapes the target")


def test_tar_dotdot_refused(sandbox):
    arc = _tar(sandbox / "arc" / "slip.tgz", [("a/../../evil.txt", b"pwned")])
    _refused(sandbox, arc, "escapes the target")


@pytest.mark.parametrize("name", ["/tmp/evil.txt", "C:/evil.txt", "\\\\server\\share\\evil.txt"])
def test_absolute_paths_refused(sandbox, name):
    arc = _zip(sandbox / "arc" / "abs.zip", {"ok.txt": b"1"})
    with zipfile.ZipFile(arc, "a") as zf:
        info = zipfile.ZipInfo("placeholder")
        info.filename = name  # ZipInfo normalises on construction; set the raw name after
        zf.writestr(info, b"pwned")
    _refused(sandbox, arc, "absolute path")


def test_tar_absolute_path_refused(sandbox):
    arc = _tar(sandbox / "arc" / "abs.tar", [("/tmp/evil-web2sky.txt", b"pwned")], "w")
    _refused(sandbox, arc, "absolute path")
    assert not Path("/tmp/evil-web2sky.txt").exists()


@pytest.mark.parametrize("target", ["../../evil.txt", "/etc/passwd", "../.."])
def test_tar_symlink_escape_refused(sandbox, target):
    arc = _tar(sandbox / "arc" / "link.tgz", [_link("d/link", target), ("d/ok.txt", b"1")])
    _refused(sandbox, arc, "refusing link")


def test_symlink_then_write_through_it_refused(sandbox):
    # the classic: a link to the outside, then a file "through" the link
    arc = _tar(sandbox / "arc" / "through.tgz", [_link("d", ".."), ("d/evil.txt", b"pwned")])
    _refused(sandbox, arc, "refusing link")


def test_symlink_chain_escape_refused(sandbox):
    # each link alone stays inside lexically; together they leave the target
    arc = _tar(sandbox / "arc" / "chain.tgz",
               [("a/b/f.txt", b"1"), _link("a/b/up", ".."), _link("a/up2", "b/up/.."), _link("x", "a/up2/..")])
    _refused(sandbox, arc, "refusing link")


def test_zip_symlink_escape_refused(sandbox):
    arc = _zip(sandbox / "arc" / "link.zip", {"ok.txt": b"1"}, symlinks={"ln": "../../etc"})
    _refused(sandbox, arc, "refusing link")


def test_hardlink_escape_refused(sandbox):
    arc = _tar(sandbox / "arc" / "hard.tar", [_link("h", "../../etc/passwd", tarfile.LNKTYPE)], "w")
    _refused(sandbox, arc, "escapes the target")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_device_files_refused(sandbox, kind):
    info = tarfile.TarInfo("dev/thing")
    info.type = kind
    arc = _tar(sandbox / "arc" / "dev.tar", [info], "w")
    _refused(sandbox, arc, "special member")


def test_zip_bomb_by_size_refused(sandbox):
    arc = _zip(sandbox / "arc" / "bomb.zip", {"zeros.bin": bytes(20_000_000)})
    assert arc.stat().st_size < 100_000
    _refused(sandbox, arc, "archive bomb", max_bytes=10_000_000)


def test_bomb_by_ratio_refused(sandbox, monkeypatch):
    import web2sky_bench.io.archives as archives

    monkeypatch.setattr(archives, "RATIO_FLOOR", 1_000_000)
    arc = _tar(sandbox / "arc" / "bomb.tar.xz", [("zeros.bin", bytes(5_000_000))], "w:xz")
    _refused(sandbox, arc, r"expands \d+x")


def test_member_count_bomb_refused(sandbox):
    arc = _zip(sandbox / "arc" / "many.zip", {f"f{i}.txt": b"" for i in range(101)})
    _refused(sandbox, arc, "101 members", max_members=100)


def test_understated_zip_size_caught_while_writing(sandbox):
    arc = sandbox / "arc" / "liar.zip"
    _zip(arc, {"a.bin": bytes(100_000)})
    data = bytearray(arc.read_bytes())
    # patch the uncompressed size in the central directory (offset 24 in the entry) to 10 bytes
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    arc.write_bytes(bytes(data))
    with pytest.raises(ArchiveError):
        safe_extract(arc, sandbox / "out")
    assert not (sandbox / "out").exists()
    assert [p.name for p in sandbox.iterdir()] == ["arc"]


def test_not_an_archive(sandbox):
    bad = sandbox / "arc" / "x.zip"
    bad.write_bytes(os.urandom(1000))
    with pytest.raises(ArchiveError, match="not a zip or tar"):
        safe_extract(bad, sandbox / "out")
