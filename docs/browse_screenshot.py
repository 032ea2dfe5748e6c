"""Screenshot the FiftyOne App of a dataset with headless Chromium (makes docs/browse.png).

    python docs/browse_screenshot.py DATASET docs/browse.png [--port 5199] [--view leaks]

Runs ``web2sky-bench browse DATASET`` on loopback in its own session, waits
for HTTP 200, then drives headless Chromium over the DevTools protocol on a
pipe (``--remote-debugging-pipe``; no extra packages): it dismisses the App's
one-time "Explore Enterprise" popover, ticks "sample tags" in the sidebar (the
App ignores ``tags`` in a dataset's default active fields), unticks the ``split`` field pill (the tags say the same), and
captures the page. Finally it stops the App by PID and waits until none of
its processes is left.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-pipe",
]
# Sidebar rows are found by their label text; the row holds the checkbox.
SIDEBAR_JS = """(() => {
  const row = (label) => {
    const el = [...document.querySelectorAll('*')].find(e => e.children.length === 0 && e.textContent.trim() === label);
    let p = el;
    for (let i = 0; p && i < 6; i++) { p = p.parentElement; if (p && p.querySelector('input[type=checkbox]')) return p; }
    return null;
  };
  const done = [];
  for (const b of document.querySelectorAll('button')) if (b.textContent.trim() === 'Dismiss') { b.click(); done.push('dismissed'); }
  const tags = row('sample tags');
  if (tags) {
    const cb = tags.querySelector('input[type=checkbox]');
    if (!cb.checked) { cb.click(); done.push('tags on'); }
  }
  const split = row('split');
  if (split) { const cb = split.querySelector('input[type=checkbox]'); if (cb.checked) { cb.click(); done.push('split off'); } }
  return done;
})()"""


class DevTools:
    """Chromium driven over the DevTools protocol on fds 3/4 (NUL-separated JSON)."""

    def __init__(self, chromium: str, flags: list[str]) -> None:
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads our commands, fd 4 carries replies
            a, b = os.dup(cmd_r), os.dup(out_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([chromium, *flags], preexec_fn=wire, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._w = os.fdopen(cmd_w, "wb", buffering=0)
        self._r = os.fdopen(out_r, "rb", buffering=0)
        self._buf = b""
        self._id = 0

    def call(self, method: str, session: str | None = None, **params):
        """Send one command and return its result."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self._w.write(json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = self._r.read(1 << 16)
                if not chunk:
                    raise RuntimeError(f"chromium closed the DevTools pipe during {method}")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def close(self) -> None:
        """Stop Chromium."""
        self._w.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def screenshot(url: str, out: Path, width: int = 1600, height: int = 1000, settle_s: float = 15.0) -> list[str]:
    """Load ``url`` in headless Chromium, apply :data:`SIDEBAR_JS`, save a PNG; return what the script did."""
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                    None)
    if chromium is None:
        sys.exit("chromium not found: apt-get install -y chromium")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    browser = DevTools(chromium, [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"])
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                     deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", session, url=url)
        time.sleep(settle_s)
        done = browser.call("Runtime.evaluate", session, expression=SIDEBAR_JS, returnByValue=True)
        time.sleep(5)
        data = browser.call("Page.captureScreenshot", session, format="png")["data"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return done["result"].get("value", [])
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    """Parse arguments, serve the App, screenshot it, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("out", type=Path)
    parser.add_argument("--port", type=int, default=5199)
    parser.add_argument("--name", default=None)
    parser.add_argument("--view", default=None, help="a saved view to open instead of the whole dataset")
    args = parser.parse_args()

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
        done = screenshot(url, args.out)
        print(f"wrote {args.out} from {url} ({', '.join(done) or 'sidebar unchanged'})")
    finally:
        family = psutil.Process(app.pid).children(recursive=True) if app.poll() is None else []
        if app.poll() is None:
            os.kill(app.pid, signal.SIGTERM)
            app.wait(timeout=60)
        psutil.wait_procs(family, timeout=60)


if __name__ == "__main__":
    main()
