"""Screenshot the FiftyOne App of a dataset with headless Chromium (makes docs/browse.png).

    python docs/browse_screenshot.py DATASET docs/browse.png [--port 5199] [--view leaks]

Runs ``web2sky-bench browse DATASET`` on loopback in its own session, waits
for HTTP 200, takes the screenshot, then stops the App by PID and waits until
none of its processes is left. The App's one-time "Explore Enterprise"
popover is marked as seen in a fresh Chromium profile first (a page served
on the same origin sets its localStorage key), so it does not cover the grid.
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]
PRIME = b"<script>localStorage.setItem('fiftyone-enterprise-tooltip-seen', 'true')</script>ok"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    sys.exit("chromium not found: apt-get install -y chromium")


def _prime(chromium: str, profile: str, port: int) -> None:
    """Set the popover's localStorage key for origin 127.0.0.1:port in ``profile``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(PRIME)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                        f"http://127.0.0.1:{port}/"], capture_output=True, timeout=60, check=True)
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    """Parse arguments, serve the App, screenshot it, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("out", type=Path)
    parser.add_argument("--port", type=int, default=5199)
    parser.add_argument("--name", default=None)
    parser.add_argument("--view", default=None, help="a saved view to open instead of the whole dataset")
    parser.add_argument("--size", default="1600,1000")
    args = parser.parse_args()
    chromium = _chromium()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    _prime(chromium, profile, args.port)

    cmd = [sys.executable, "-m", "web2sky_bench", "browse", args.dataset, "--port", str(args.port), "-q"]
    if args.name:
        cmd += ["--name", args.name]
    app = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        name = None
        for line in app.stdout:
            print(line, end="")
            if line.startswith("dataset: "):
                name = line.split()[1]
            if line.startswith("App: "):
                break
        if name is None:
            sys.exit(f"browse failed (exit {app.wait()})")
        url = f"http://127.0.0.1:{args.port}/datasets/{name}"
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                if time.time() > deadline or app.poll() is not None:
                    sys.exit("the App did not answer")
                time.sleep(0.5)
        if args.view:
            url += f"?view={args.view}"
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={args.size}",
                        "--virtual-time-budget=30000", f"--screenshot={args.out.resolve()}", url],
                       capture_output=True, timeout=180, check=True)
        print(f"wrote {args.out} from {url}")
    finally:
        family = psutil.Process(app.pid).children(recursive=True) if app.poll() is None else []
        if app.poll() is None:
            os.kill(app.pid, signal.SIGTERM)
            app.wait(timeout=60)
        psutil.wait_procs(family, timeout=60)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
