"""Leaderboard entries (schema round-trip), rendering (escaping, staleness) and the HTML page in Chromium."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from lb_helpers import fake_entry

from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.evaluate import entries as E
from web2sky_bench.evaluate.render import check_leaderboard, md_escape, render_leaderboard

REPO = Path(__file__).resolve().parent.parent


def test_entry_round_trips_through_schema(tmp_path):
    entry, csv = fake_entry()
    path = E.write_entry(tmp_path, entry, csv)
    assert path == tmp_path / "tiny-bench" / "all" / "entries" / f"{entry['entry_id']}.json"
    loaded = E.load_entry(path)
    assert loaded == json.loads(json.dumps(entry))
    assert loaded["results"]["1"]["aggregate"]["n_seeds"] == 2
    assert (path.parent / loaded["predictions"]).read_bytes() == csv


def test_schema_rejects_broken_entries(tmp_path):
    entry, csv = fake_entry()
    bad = copy.deepcopy(entry)
    bad["results"]["1"]["runs"][0]["top1"] = 1.5
    del bad["git_commit"]
    with pytest.raises(Web2SkyError, match=r"2 problem\(s\)") as err:
        E.validate_entry(bad)
    assert "top1" in str(err.value) and "git_commit" in str(err.value)
    path = E.write_entry(tmp_path, entry, csv)
    (path.parent / entry["predictions"]).write_text("tampered\n")
    with pytest.raises(Web2SkyError, match="has sha256"):
        E.load_entry(path)


def test_same_config_same_entry_id():
    a, _ = fake_entry()
    b, _ = fake_entry()
    assert a["entry_id"] == b["entry_id"] and a["results"] == b["results"]
    assert fake_entry(name="other")[0]["entry_id"] != a["entry_id"]


def test_render_escapes_script_and_check_detects_staleness(tmp_path):
    evil = '<script>alert("x")</script>|*bold*'
    for entry, csv in (fake_entry(evil, 0.5), fake_entry("good", 0.8), fake_entry("sub", 0.6, external=True)):
        E.write_entry(tmp_path, entry, csv)
    out = render_leaderboard(tmp_path)
    assert out["entries"] == 3 and all(p.is_file() for p in out["plots"])
    page = (tmp_path / "index.html").read_text()
    readme = (tmp_path / "README.md").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<script>" not in readme and "&lt;script&gt;" in readme and r"\|\*bold\*" in readme
    assert readme.index("| 1 | good") < readme.index("| 2 | sub (external)")
    assert check_leaderboard(tmp_path) == 3
    entry, csv = fake_entry("late", 0.9)
    E.write_entry(tmp_path, entry, csv)
    with pytest.raises(Web2SkyError, match="stale"):
        check_leaderboard(tmp_path)
    res = CliRunner().invoke(main, ["leaderboard", "check", "--leaderboard", str(tmp_path)])
    assert res.exit_code == 2 and "stale" in res.output
    res = CliRunner().invoke(main, ["leaderboard", "render", "--leaderboard", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert check_leaderboard(tmp_path) == 4


def test_md_escape():
    assert md_escape("a|b\n<i>_c_") == r"a\|b &lt;i&gt;\_c\_"


def test_committed_leaderboard_is_valid_and_fresh():
    """What CI runs: every committed entry validates and the rendered pages are current."""
    res = CliRunner().invoke(main, ["leaderboard", "check", "--leaderboard", str(REPO / "leaderboard")])
    assert res.exit_code == 0, res.output


def test_html_renders_in_headless_chromium(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    for entry, csv in (fake_entry("<script>boom</script>", 0.5), fake_entry("good", 0.8)):
        E.write_entry(tmp_path / "lb", entry, csv)
    render_leaderboard(tmp_path / "lb")
    shot = tmp_path / "shot.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1400", "--hide-scrollbars",
           f"--screenshot={shot}", (tmp_path / "lb" / "index.html").as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=90, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 1400)
    colors = img.resize((60, 70)).getcolors(60 * 70)
    assert colors is not None and len(colors) > 20, "page rendered blank"
    dom = subprocess.run([*cmd[:-2], "--dump-dom", cmd[-1]], capture_output=True, text=True, timeout=90)
    assert "<table" in dom.stdout and "boom" in dom.stdout and "<script>boom" not in dom.stdout
