"""fetch-web against a real local server: successes, each refusal reason, skips, stats."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from httpfault import FaultServer
from PIL import Image

from web2sky_bench.acquire.fetch_web import STATS_FILE, fetch_web, robots_disallowed
from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.http import HttpClient
from web2sky_bench.manifest import file_sha256, read_manifest


def jpeg(i: int, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (i * 13 % 255, 100, 50)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


def client():
    return HttpClient(retries=2, backoff=0.01, timeout=(2, 1))


def test_robots_tag_parsing():
    assert robots_disallowed(["noai"]) and robots_disallowed(["noindex, nofollow"])
    assert robots_disallowed(["web2sky-bench: noimageai"])
    assert not robots_disallowed(["googlebot: noindex"]) and not robots_disallowed(["nofollow"])
    assert not robots_disallowed([])


def test_fetch_web_end_to_end(server, tmp_path):
    rows = []
    good = {}
    for i in range(6):
        body = jpeg(i)
        good[f"g{i}"] = body
        rows.append({"image_id": f"g{i}", "url": server.add(f"/img/{i}.jpg", body, content_type="image/jpeg"),
                     "category": "F16" if i % 2 else "Nimitz", "license": "CC-BY-4.0", "attribution": "someone"})
    flaky = jpeg(50)
    rows.append({"image_id": "flaky", "category": "f-16",
                 "url": server.add("/flaky.jpg", flaky, content_type="image/jpeg", faults=["500", "reset:100"])})
    good["flaky"] = flaky
    bad = {
        "html": ("/page.html", b"<html></html>", {"content_type": "text/html"}),
        "noai": ("/noai.jpg", jpeg(60), {"content_type": "image/jpeg", "headers": {"X-Robots-Tag": "noai"}}),
        "noindex": ("/noidx.jpg", jpeg(61), {"content_type": "image/jpeg",
                                             "headers": {"X-Robots-Tag": "web2sky-bench: noindex"}}),
        "broken": ("/broken.jpg", b"\xff\xd8\xff" + b"junk" * 100, {"content_type": "image/jpeg"}),
        "huge": ("/huge.jpg", jpeg(62, (600, 600)) + bytes(200_000), {"content_type": "image/jpeg"}),
        "gone": ("/missing.jpg", None, {}),
        "loop": ("/loop-a", None, {"redirect": "/loop-b"}),
        "wrongsum": ("/w.jpg", jpeg(63), {"content_type": "image/jpeg"}),
    }
    server.add("/loop-b", redirect="/loop-a")
    for image_id, (path, body, opts) in bad.items():
        url = server.add(path, body, **opts) if body is not None or opts else server.url(path)
        row = {"image_id": image_id, "url": url, "category": "c-130"}
        if image_id == "wrongsum":
            row["sha256"] = "0" * 64
        rows.append(row)
    src = tmp_path / "urls.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    out = tmp_path / "web"
    stats = fetch_web(src, out, workers=4, max_bytes=100_000, client=client(), quiet=True)
    assert stats.successes == 7 and stats.requested == 15
    assert stats.failures_by_reason == {"checksum-mismatch": 1, "content-type": 1, "decode": 1, "http-404": 1,
                                        "redirect-loop": 1, "robots-tag": 2, "too-large": 1}
    frame = read_manifest(out)
    assert sorted(frame["image_id"]) == sorted(good)
    for r in frame.itertuples():
        assert (out / r.path).read_bytes() == good[r.image_id]
        assert r.sha256 == hashlib.sha256(good[r.image_id]).hexdigest() and r.width == 40
    assert set(frame["category"]) == {"f-16", "nimitz-class"}
    assert frame.set_index("image_id").loc["g0", "license"] == "CC-BY-4.0"
    on_disk = json.loads((out / STATS_FILE).read_text())
    assert on_disk["successes"] == 7 and on_disk["images_per_s"] > 0 and on_disk["bytes"] == sum(
        len(b) for b in good.values())
    assert {f["image_id"] for f in on_disk["failed"]} == set(bad)
    assert not list(out.rglob("*.tmp"))

    # rerun: every good image is skipped (present with matching sha256), nothing refetched
    n = len(server.log)
    again = fetch_web(src, out, workers=4, max_bytes=100_000, client=client(), quiet=True)
    assert again.skipped_present == 7 and again.successes == 0
    fetched_again = {p for p, _, _ in server.log[n:]}
    assert not any(p.startswith("/img/") or p == "/flaky.jpg" for p in fetched_again)

    # a corrupted local file is fetched again
    victim = out / frame.set_index("image_id").loc["g1", "path"]
    victim.write_bytes(b"rot")
    third = fetch_web(src, out, workers=2, max_bytes=100_000, client=client(), quiet=True)
    assert third.successes == 1 and file_sha256(victim) == hashlib.sha256(good["g1"]).hexdigest()


def test_unknown_category_fails_before_fetching(server, tmp_path):
    src = tmp_path / "urls.csv"
    pd.DataFrame([{"image_id": "a", "url": server.url("/a.jpg"), "category": "Nimitzz"}]).to_csv(src, index=False)
    with pytest.raises(Web2SkyError, match="Nimitzz.*closest: nimitz-class"):
        fetch_web(src, tmp_path / "out", quiet=True)
    assert server.log == []


def test_missing_columns_and_duplicates(tmp_path):
    src = tmp_path / "urls.csv"
    pd.DataFrame([{"image_id": "a", "url": "http://x/a"}]).to_csv(src, index=False)
    with pytest.raises(Web2SkyError, match="lacks column"):
        fetch_web(src, tmp_path / "out", quiet=True)
    pd.DataFrame([{"image_id": "a", "url": "http://x/a", "category": "f-16"}] * 2).to_csv(src, index=False)
    with pytest.raises(Web2SkyError, match="duplicate image_id"):
        fetch_web(src, tmp_path / "out", quiet=True)


def test_cli(server, tmp_path):
    url = server.add("/a.jpg", jpeg(1), content_type="image/jpeg")
    src = tmp_path / "urls.parquet"
    pd.DataFrame([{"image_id": "a", "url": url, "category": "c-130", "split": "train"}]).to_parquet(src)
    result = CliRunner().invoke(main, ["fetch-web", str(src), "--out", str(tmp_path / "o"), "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert "fetched 1/1 image(s)" in result.output
    assert read_manifest(tmp_path / "o")["split"].tolist() == ["train"]


def test_killed_run_keeps_checkpointed_progress(server, tmp_path):
    """SIGKILL a real fetch-web process while one image hangs; the rerun skips what was checkpointed."""
    rows = [{"image_id": f"i{i}", "url": server.add(f"/i{i}.jpg", jpeg(i), content_type="image/jpeg"),
             "category": "f-16"} for i in range(5)]
    rows.append({"image_id": "slow", "category": "f-16",
                 "url": server.add("/slow.jpg", jpeg(99), content_type="image/jpeg", faults=["sleep:30"])})
    src = tmp_path / "urls.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    out = tmp_path / "out"
    code = ("import sys; from web2sky_bench.acquire.fetch_web import fetch_web; "
            "fetch_web(sys.argv[1], sys.argv[2], workers=2, checkpoint_s=0, quiet=True)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", code, str(src), str(out)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (out / "manifest.parquet").exists() and len(read_manifest(out)) == 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(read_manifest(out)) == 5  # the checkpoint survived the kill
    n = len(server.log)
    stats = fetch_web(src, out, workers=2, client=client(), quiet=True)
    assert stats.skipped_present == 5 and stats.successes == 1
    assert [p for p, _, _ in server.log[n:]] == ["/slow.jpg"]
    assert len(read_manifest(out)) == 6
