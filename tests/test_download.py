"""``web2sky-bench download``: manual instructions, archive import, mirrors, idempotency, verification."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from httpfault import FaultServer
from PIL import Image

from web2sky_bench.acquire.download import download_dataset, downloads_dir
from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.manifest import read_manifest


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20 + i, 14), (i * 11 % 255, 60, 90)).save(buf, format="PNG")
    return buf.getvalue()


def ship_zip(path: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A tiny Web2Sky-ship-like release: <top>/<view>/<split>/<class>/*.png."""
    members = {
        "web2sky_ship/web/train/Nimitz/0.png": _png(0),
        "web2sky_ship/web/train/Container Ship/1.png": _png(1),
        "web2sky_ship/aerial/train/nimitz-class/2.png": _png(2),
        "web2sky_ship/aerial/test/CONTAINER_SHIP/3.png": _png(3),
        "web2sky_ship/aerial/test/Nimitz/4.png": _png(4),
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_manual_without_archive_prints_instructions_and_exits_2(tmp_path):
    result = run_cli("download", "web2sky-ship", "--root", str(tmp_path))
    assert result.exit_code == 2
    assert "pan.baidu.com/s/1a49zhHnAoYwjAEubYsDiHg" in result.output
    assert "9qg9" in result.output and "--archive FILE" in result.output


def test_unknown_dataset(tmp_path):
    result = run_cli("download", "nope", "--root", str(tmp_path))
    assert result.exit_code == 2 and "known: " in result.output


def test_manual_archive_import_then_idempotent_then_verify(tmp_path):
    arc = ship_zip(tmp_path / "ship.zip")
    root = tmp_path / "datasets"
    result = run_cli("download", "web2sky-ship", "--root", str(root), "--archive", str(arc), "-q")
    assert result.exit_code == 0, result.output
    assert "imported: 5 file(s)" in result.output
    sha = hashlib.sha256(arc.read_bytes()).hexdigest()
    assert f"computed sha256 {sha}" in result.output
    recorded = json.loads((downloads_dir("web2sky-ship") / "checksums.json").read_text())
    assert recorded["ship.zip"]["sha256"] == sha
    frame = read_manifest(root / "web2sky-ship")
    assert sorted(frame["category"].unique()) == ["container-ship", "nimitz-class"]
    assert (frame["view"] == "aerial").sum() == 3

    again = run_cli("download", "web2sky-ship", "--root", str(root))
    assert again.exit_code == 0 and "present: 5 file(s)" in again.output

    verified = run_cli("download", "web2sky-ship", "--root", str(root), "--verify-only")
    assert verified.exit_code == 0 and "every image sha256 verified" in verified.output
    assert "ship.zip: sha256 matches the one recorded" in verified.output

    victim = root / "web2sky-ship" / frame["path"].iloc[0]
    victim.write_bytes(b"bit rot")
    broken = run_cli("download", "web2sky-ship", "--root", str(root), "--verify-only")
    assert broken.exit_code == 2 and "1 corrupt file(s)" in broken.output


def test_archive_with_unknown_class_then_class_map(tmp_path):
    arc = ship_zip(tmp_path / "ship.zip", {"web2sky_ship/web/train/Nimmitz/9.png": _png(9)})
    root = tmp_path / "datasets"
    result = run_cli("download", "web2sky-ship", "--root", str(root), "--archive", str(arc), "-q")
    assert result.exit_code == 2
    assert "'Nimmitz': closest matches: nimitz-class" in result.output
    cmap = tmp_path / "map.csv"
    cmap.write_text("Nimmitz,nimitz-class\n")
    ok = run_cli("download", "web2sky-ship", "--root", str(root), "--archive", str(arc),
                 "--class-map", str(cmap), "-q")
    assert ok.exit_code == 0, ok.output
    assert len(read_manifest(root / "web2sky-ship")) == 6


def test_malicious_archive_is_refused(tmp_path):
    arc = ship_zip(tmp_path / "ship.zip", {"../../evil.png": _png(5)})
    result = run_cli("download", "web2sky-ship", "--root", str(tmp_path / "d"), "--archive", str(arc))
    assert result.exit_code == 2 and "escapes the target" in result.output
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "d" / "web2sky-ship").exists()


def test_changed_archive_is_caught_by_recorded_checksum(tmp_path):
    arc = ship_zip(tmp_path / "ship.zip")
    download_dataset("web2sky-ship", root=tmp_path / "d", archive=arc, quiet=True)
    other = ship_zip(tmp_path / "other.zip", {"web2sky_ship/web/train/Nimitz/7.png": _png(7)})
    arc.write_bytes(other.read_bytes())  # same file name, different bytes
    with pytest.raises(Web2SkyError, match="was recorded when it was first fetched"):
        download_dataset("web2sky-ship", root=tmp_path / "d", archive=arc, quiet=True)


def _fgvc_tar() -> bytes:
    """A tiny FGVC-Aircraft 2013b: two mapped variants, one the taxonomy does not list."""
    buf = io.BytesIO()
    members = {
        "fgvc-aircraft-2013b/data/images/0001.jpg": _jpeg(1),
        "fgvc-aircraft-2013b/data/images/0002.jpg": _jpeg(2),
        "fgvc-aircraft-2013b/data/images/0003.jpg": _jpeg(3),
        "fgvc-aircraft-2013b/data/images_variant_train.txt": b"0001 F-16A/B\n0003 DC-3\n",
        "fgvc-aircraft-2013b/data/images_variant_test.txt": b"0002 737-800\n",
    }
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (30 + i, 20), (i * 40, 10, 10)).save(buf, format="JPEG")
    return buf.getvalue()


def test_download_kind_via_mirror_resumes_imports_and_reuses(tmp_path):
    from web2sky_bench.io.http import HttpClient

    body = _fgvc_tar()
    with FaultServer() as srv:
        srv.add("/mirror/fgvc-aircraft-2013b.tar.gz", body, faults=["truncate:200", "503"],
                content_type="application/gzip")
        client = HttpClient(backoff=0.01, timeout=(2, 2))
        first = download_dataset("fgvc-aircraft", root=tmp_path, mirror=srv.url("/mirror/"), quiet=True,
                                 client=client)
        assert first.action == "downloaded and imported" and first.files == 2
        assert "computed sha256 " + hashlib.sha256(body).hexdigest() in first.format()
        assert any(r and r.startswith("bytes=") for _, r, _ in srv.log)  # resumed after the truncation
        assert "resumed at 200 B" in first.format()
        frame = read_manifest(tmp_path / "fgvc-aircraft").set_index("image_id")
        assert frame.loc["fgvc-aircraft-0001", ["category", "split", "view"]].tolist() == ["f-16", "train", "web"]
        assert frame.loc["fgvc-aircraft-0002", "category"] == "boeing-737"

        n = len(srv.log)
        second = download_dataset("fgvc-aircraft", root=tmp_path, mirror=srv.url("/mirror/"), client=client)
        assert len(srv.log) == n and second.action == "present"  # nothing fetched again
        verify = download_dataset("fgvc-aircraft", root=tmp_path, verify_only=True)
        assert verify.action == "verified" and "matches the one recorded" in verify.format()

        cached = downloads_dir("fgvc-aircraft") / "fgvc-aircraft-2013b.tar.gz"
        cached.write_bytes(b"corrupted")
        with pytest.raises(Web2SkyError, match="checksum mismatch"):
            download_dataset("fgvc-aircraft", root=tmp_path, verify_only=True)
        third = download_dataset("fgvc-aircraft", root=tmp_path, mirror=srv.url("/mirror/"), force=True,
                                 quiet=True, client=client)
        assert cached.read_bytes() == body and third.action == "downloaded and imported"


def test_download_kind_all_mirrors_failing(tmp_path, monkeypatch):
    import dataclasses

    import web2sky_bench.acquire.download as download_mod
    from web2sky_bench.acquire.releases import ReleaseFile, get_release
    from web2sky_bench.io.http import HttpClient

    rel = get_release("fgvc-aircraft")  # drop the real URL: tests never touch the network
    offline = dataclasses.replace(rel, files=(ReleaseFile(rel.files[0].name),))
    monkeypatch.setattr(download_mod, "get_release", lambda name: offline)
    with FaultServer() as srv:
        srv.add("/m/fgvc-aircraft-2013b.tar.gz", b"x", faults=["500"] * 20)
        other = srv.add("/other/fgvc-aircraft-2013b.tar.gz", b"x", faults=["404"])
        client = HttpClient(retries=1, backoff=0.01, timeout=(1, 1))
        with pytest.raises(Web2SkyError, match="no URL for fgvc-aircraft-2013b.tar.gz; pass --mirror"):
            download_dataset("fgvc-aircraft", root=tmp_path, quiet=True, client=client)
        with pytest.raises(Web2SkyError, match="HTTP 404"):
            download_dataset("fgvc-aircraft", root=tmp_path, mirror=other, quiet=True, client=client)
        with pytest.raises(Web2SkyError, match="could not download fgvc-aircraft-2013b.tar.gz from any mirror"):
            download_dataset("fgvc-aircraft", root=tmp_path, mirror=srv.url("/m/"), quiet=True, client=client)
    assert not (tmp_path / "fgvc-aircraft").exists()
    assert not (downloads_dir("fgvc-aircraft") / "fgvc-aircraft-2013b.tar.gz").exists()


def test_generated_kind_dispatches_to_synth(tmp_path):
    summary = download_dataset("web2sky-synth", root=tmp_path, size="tiny", seed=0, quiet=True)
    assert summary.action == "generated"
    assert read_manifest(tmp_path / "web2sky-synth-tiny").shape[0] > 0
    again = download_dataset("web2sky-synth", root=tmp_path, size="tiny", seed=0, quiet=True)
    assert again.action == "present"


def test_manual_archive_in_an_importer_format(tmp_path):
    """A FGSC-23 archive (with a top folder) is extracted and cut by the importers' fgsc23 format."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fgsc23_data", Path(__file__).parent / "data/fgsc23/data.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    expected = gen.generate(tmp_path / "src" / "FGSC-23")
    arc = tmp_path / "FGSC-23.tar.gz"
    with tarfile.open(arc, "w:gz") as tf:
        tf.add(tmp_path / "src" / "FGSC-23", arcname="FGSC-23")
    summary = download_dataset("fgsc23", root=tmp_path / "d", archive=arc, quiet=True)
    assert summary.action == "imported"
    frame = read_manifest(tmp_path / "d" / "fgsc23")
    assert len(frame) == sum(e["kept"] for e in expected) == summary.files
    assert set(frame["category"]) == {e["category"] for e in expected if e["kept"]}
