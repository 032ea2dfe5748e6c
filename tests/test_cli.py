"""The CLI shell: help, version, dataset listing, error handling."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from web2sky_bench import __version__
from web2sky_bench.cli import main


def test_help_and_version():
    runner = CliRunner()
    assert "manifest" in runner.invoke(main, ["--help"]).output
    assert __version__ in runner.invoke(main, ["--version"]).output


def test_datasets_lists_registry(tmp_path):
    result = CliRunner().invoke(main, ["datasets", "--root", str(tmp_path)])
    assert result.exit_code == 0
    assert "web2sky-synth" in result.output and "mar20" in result.output


def test_user_error_exit_code_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "web2sky_bench", "manifest", "validate", str(tmp_path / "nope.parquet")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: manifest not found")
    assert "Traceback" not in proc.stderr
