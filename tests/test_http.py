"""The shared HTTP client against a real local server with injected faults."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from httpfault import FaultServer

from web2sky_bench.io.http import USER_AGENT_TOKEN, HttpClient, HttpError, parse_retry_after

REPO = Path(__file__).resolve().parents[1]
BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def client():
    with HttpClient(retries=3, backoff=0.01, max_backoff=0.05, timeout=(2, 1), seed=0) as c:
        yield c


def _no_leftovers(dest: Path) -> None:
    assert not dest.with_name(dest.name + ".part").exists()
    assert not dest.with_name(dest.name + ".part.json").exists()


def test_plain_download_verifies_and_is_idempotent(server, client, tmp_path):
    url = server.add("/f.bin", BODY)
    dest = tmp_path / "f.bin"
    res = client.download(url, dest, sha256=SHA, size=len(BODY), quiet=True)
    assert res.sha256 == SHA and res.checksum == "verified" and not res.skipped
    assert dest.read_bytes() == BODY
    _no_leftovers(dest)
    again = client.download(url, dest, sha256=SHA, quiet=True)
    assert again.skipped and len(server.requests_for("/f.bin")) == 1
    assert USER_AGENT_TOKEN in server.log[0][2]


def test_unknown_checksum_is_computed(server, client, tmp_path):
    url = server.add("/f.bin", BODY)
    res = client.download(url, tmp_path / "f.bin", quiet=True)
    assert res.sha256 == SHA and res.checksum == "computed"


def test_resume_from_existing_part_uses_range(server, client, tmp_path):
    url = server.add("/f.bin", BODY)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(BODY[:100_000])
    res = client.download(url, dest, sha256=SHA, quiet=True)
    assert res.resumed_from == 100_000 and res.downloaded == len(BODY) - 100_000
    assert server.requests_for("/f.bin")[0][1] == "bytes=100000-"
    assert dest.read_bytes() == BODY


def test_server_without_range_restarts_from_zero(server, client, tmp_path):
    url = server.add("/f.bin", BODY, ranges=False)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(b"garbage" * 1000)
    res = client.download(url, dest, sha256=SHA, quiet=True)
    assert res.resumed_from == 0 and res.downloaded == len(BODY)
    assert dest.read_bytes() == BODY


def test_changed_file_is_refetched_whole_via_if_range(server, client, tmp_path):
    dest = tmp_path / "f.bin"
    url = server.add("/f.bin", BODY, faults=["truncate:50000"])
    with pytest.raises(HttpError):
        HttpClient(retries=0, timeout=(2, 1)).download(url, dest, quiet=True)
    assert dest.with_name("f.bin.part").stat().st_size == 50_000
    new_body = os.urandom(120_000)
    server.add("/f.bin", new_body)  # new ETag: If-Range fails, server sends 200
    res = client.download(url, dest, quiet=True)
    assert dest.read_bytes() == new_body and res.resumed_from == 0


def test_500_then_200(server, client, tmp_path):
    url = server.add("/f.bin", BODY, faults=["500", "503"])
    res = client.download(url, tmp_path / "f.bin", sha256=SHA, quiet=True)
    assert res.sha256 == SHA and len(server.requests_for("/f.bin")) == 3


def test_persistent_500_gives_clear_error(server, client, tmp_path):
    url = server.add("/f.bin", BODY, faults=["500"] * 10)
    with pytest.raises(HttpError, match=r"giving up .* after 4 attempt\(s\): HTTP 500") as info:
        client.download(url, tmp_path / "f.bin", quiet=True)
    assert info.value.reason == "http-500"
    assert not (tmp_path / "f.bin").exists()


def test_429_honours_retry_after(server, client, tmp_path):
    url = server.add("/f.bin", BODY, faults=["429:1"])
    t0 = time.monotonic()
    client.download(url, tmp_path / "f.bin", sha256=SHA, quiet=True)
    assert time.monotonic() - t0 >= 0.95  # the backoff alone would be ~0.01 s
    assert parse_retry_after("7") == 7.0 and parse_retry_after("nonsense") is None


def test_connection_reset_mid_body_resumes(server, client, tmp_path):
    url = server.add("/f.bin", BODY, faults=["reset:120000"])
    res = client.download(url, tmp_path / "f.bin", sha256=SHA, quiet=True)
    assert res.sha256 == SHA
    ranges = [r for _, r, _ in server.requests_for("/f.bin")]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")


def test_truncated_body_resumes(server, client, tmp_path):
    url = server.add("/f.bin", BODY, faults=["truncate:64000"])
    res = client.download(url, tmp_path / "f.bin", sha256=SHA, quiet=True)
    assert res.resumed_from == 64000 and (tmp_path / "f.bin").read_bytes() == BODY


def test_checksum_mismatch_moves_file_aside(server, client, tmp_path):
    url = server.add("/f.bin", BODY)
    dest = tmp_path / "f.bin"
    with pytest.raises(HttpError, match="checksum mismatch") as info:
        client.download(url, dest, sha256="0" * 64, quiet=True)
    assert info.value.reason == "checksum-mismatch"
    assert not dest.exists()
    assert (tmp_path / "f.bin.corrupt").read_bytes() == BODY
    _no_leftovers(dest)


def test_size_mismatch_moves_file_aside(server, client, tmp_path):
    url = server.add("/f.bin", BODY)
    dest = tmp_path / "f.bin"
    with pytest.raises(HttpError, match="size mismatch"):
        client.download(url, dest, size=1000, quiet=True)
    assert not dest.exists() and (tmp_path / "f.bin.corrupt").exists()


def test_existing_bad_file_is_replaced(server, client, tmp_path):
    url = server.add("/f.bin", BODY)
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old and wrong")
    client.download(url, dest, sha256=SHA, quiet=True)
    assert dest.read_bytes() == BODY and (tmp_path / "f.bin.corrupt").read_bytes() == b"old and wrong"


def test_redirect_loop_is_a_clear_error(server, client, tmp_path):
    server.add("/a", redirect="/b")
    url = server.add("/b", redirect="/a")
    with pytest.raises(HttpError, match="redirect loop") as info:
        client.download(url, tmp_path / "x", quiet=True)
    assert info.value.reason == "redirect-loop"
    with pytest.raises(HttpError, match="redirect loop"):
        client.get(url)


def test_timeout_retries_then_succeeds_and_then_fails(server, client, tmp_path):
    url = server.add("/slow", BODY, faults=["sleep:1.5"])
    assert client.get(url).content == BODY  # read timeout 1 s, second try answers
    url = server.add("/slower", BODY, faults=["sleep:1.5"] * 5)
    with pytest.raises(HttpError, match="timed out") as info:
        HttpClient(retries=1, backoff=0.01, timeout=(2, 0.5)).get(url)
    assert info.value.reason == "timeout"


def test_get_returns_body_and_raises_on_404(server, client):
    url = server.add("/j", b'{"a": 1}', content_type="application/json")
    assert client.get(url).json() == {"a": 1}
    with pytest.raises(HttpError, match="HTTP 404") as info:
        client.get(server.url("/missing"))
    assert info.value.status == 404
    assert client.get(server.url("/missing"), raise_for_status=False).status_code == 404


def test_get_refuses_oversize_bodies(server, client):
    url = server.add("/big", BODY)
    with pytest.raises(HttpError, match="exceeds the limit") as info:
        client.get(url, max_bytes=1000)
    assert info.value.reason == "too-large"


def test_invalid_url(client, tmp_path):
    with pytest.raises(HttpError, match="not an http"):
        client.download("ftp://example.org/x", tmp_path / "x")


def test_per_host_limit_caps_concurrency(server):
    import threading

    url = server.add("/slow", b"x", faults=["sleep:0.2"] * 6)
    c = HttpClient(per_host=2, retries=0, timeout=(2, 5))
    active, peak, lock = [0], [0], threading.Lock()
    real_send = c._send

    def counting_send(*a, **kw):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            return real_send(*a, **kw)
        finally:
            with lock:
                active[0] -= 1

    c._send = counting_send
    threads = [threading.Thread(target=c.get, args=(url,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_sigkill_midway_then_rerun_resumes(server, tmp_path):
    """A real process killed with SIGKILL mid-transfer; the rerun resumes and verifies."""
    body = os.urandom(2_000_000)
    sha = hashlib.sha256(body).hexdigest()
    url = server.add("/big.bin", body, rate=20_000)  # ~2 MB/s: takes ~1 s
    dest = tmp_path / "big.bin"
    part = tmp_path / "big.bin.part"
    code = (
        "import sys; from web2sky_bench.io.http import HttpClient; "
        "HttpClient().download(sys.argv[1], sys.argv[2], sha256=sys.argv[3], quiet=True)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code, url, str(dest), sha], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if part.exists() and part.stat().st_size > 300_000:
            break
        assert not dest.exists()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = part.stat().st_size
    assert 0 < killed_at < len(body)
    assert not dest.exists()  # never a partial file at the final path
    server.routes["/big.bin"].rate = None
    res = HttpClient(backoff=0.01).download(url, dest, sha256=sha, quiet=True)
    assert res.resumed_from >= killed_at and res.sha256 == sha
    assert dest.read_bytes() == body
    _no_leftovers(dest)
