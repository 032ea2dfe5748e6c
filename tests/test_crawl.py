"""Crawler against a local threaded HTTP server that emulates the Commons API, robots.txt and image hosts."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from web2sky_bench import cli, taxonomy
from web2sky_bench.acquire.crawl.base import queries_for
from web2sky_bench.acquire.crawl.commons import CommonsSource
from web2sky_bench.acquire.crawl.crawler import STATE_FILE, CrawlOptions, PoliteFetcher, crawl
from web2sky_bench.acquire.crawl.html import best_srcset
from web2sky_bench.acquire.crawl.robots import HostPacer, RobotsPolicy
from web2sky_bench.acquire.crawl.run import run_crawl
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.http import HttpClient
from web2sky_bench.manifest import read_card, read_manifest

ROBOTS = "User-agent: *\nDisallow: /private/\n"
PAGE = 2  # the emulator pages every list by two, whatever the client asks


def jpeg(seed: int, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, 120)).save(buf, format="JPEG")
    return buf.getvalue()


# name -> (path on the server, license or None, artist)
FILES = {
    "Hercules_1.jpg": ("/images/hercules_1.jpg", "CC BY-SA 4.0", "<a href='/u/A'>Ann</a>"),
    "Hercules_2.jpg": ("/images/hercules_2.jpg", "CC BY 2.0", "Bob"),
    "Hercules_secret.jpg": ("/private/hercules_secret.jpg", "CC0", "Cy"),
    "Hercules_nolicense.jpg": ("/images/hercules_nolicense.jpg", None, None),
    "Hercules_copy.jpg": ("/images/hercules_copy.jpg", "CC BY 4.0", "Dee"),  # same bytes as Hercules_1
    "Hercules_3.jpg": ("/images/hercules_3.jpg", "Public domain", "Eve"),
    "Hercules_4.jpg": ("/images/hercules_4.jpg", "CC BY-SA 3.0", "Fay"),
    "Hercules_5.jpg": ("/images/hercules_5.jpg", "CC BY-SA 3.0", "Gus"),
    "Hercules_6.jpg": ("/images/hercules_6.jpg", "CC BY-SA 3.0", "Hal"),
}
CATEGORY_MEMBERS = [
    "Hercules_1.jpg",
    "Hercules_secret.jpg",
    "Hercules_nolicense.jpg",
    "Hercules_copy.jpg",
    "Hercules_2.jpg",
]
SEARCH_HITS = ["Hercules_2.jpg", "Hercules_3.jpg", "Hercules_4.jpg", "Hercules_5.jpg", "Hercules_6.jpg"]


def image_bytes(path: str) -> bytes:
    name = next(n for n, (p, _, _) in FILES.items() if p == path)
    seed = 1 if name == "Hercules_copy.jpg" else list(FILES).index(name) + 1
    return jpeg(seed)


class Emulator(BaseHTTPRequestHandler):
    """Commons API (generators categorymembers/search, continuation, 429 once, maxlag once) + files."""

    server_version = "CommonsEmulator/1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        url = urlsplit(self.path)
        with srv.lock:
            srv.log.append(self.path)
            srv.agents.add(self.headers.get("User-Agent", ""))
        if url.path == "/robots.txt":
            return self._send(200, srv.robots.encode(), "text/plain")
        if url.path == "/w/api.php":
            return self._api(parse_qs(url.query))
        if url.path.startswith(("/images/", "/private/")):
            if url.path == "/images/thumbs/hercules_6_1024.jpg":
                return self._send(200, jpeg(77, (96, 72)), "image/jpeg")
            if url.path == "/images/noai.jpg":
                return self._send(200, jpeg(99), "image/jpeg", {"X-Robots-Tag": "noai"})
            return self._send(200, image_bytes(url.path), "image/jpeg")
        if url.path.startswith("/pages/"):
            return self._send(200, srv.pages[url.path].encode(), "text/html; charset=utf-8")
        self._send(404, b"not found", "text/plain")

    def _api(self, q: dict) -> None:
        srv = self.server
        p = {k: v[0] for k, v in q.items()}
        with srv.lock:
            srv.api_params.append(p)
            first = len(srv.api_params) == 1
            second = len(srv.api_params) == 2
        if first:
            return self._send(429, b"slow down", "text/plain", {"Retry-After": "0"})
        if second:
            body = {"error": {"code": "maxlag", "info": "Waiting for a database server: 6 seconds lagged"}}
            return self._send(200, json.dumps(body).encode(), "application/json", {"Retry-After": "0"})
        assert p.get("maxlag") and p.get("format") == "json" and "extmetadata" in p.get("iiprop", "")
        if p.get("generator") == "categorymembers":
            names = CATEGORY_MEMBERS if p["gcmtitle"] == "Category:Lockheed C-130 Hercules" else []
            key = "gcmcontinue"
        else:
            names = SEARCH_HITS if "Hercules" in p.get("gsrsearch", "") else []
            key = "gsroffset"
        start = int(p.get(key, 0))
        chunk = names[start : start + PAGE]
        pages = []
        for i, name in enumerate(chunk):
            path, lic, artist = FILES[name]
            meta = {}
            if lic:
                meta["LicenseShortName"] = {"value": lic, "source": "commons-desc-page"}
            if artist:
                meta["Artist"] = {"value": artist, "source": "commons-desc-page"}
            pages.append(
                {
                    "pageid": 1000 + list(FILES).index(name),
                    "ns": 6,
                    "title": f"File:{name}",
                    "index": start + i,
                    "imageinfo": [
                        {
                            "url": srv.base + path,
                            "descriptionurl": f"{srv.base}/wiki/File:{name}",
                            "width": 64,
                            "height": 48,
                            "mime": "image/jpeg",
                            "extmetadata": meta,
                        }
                    ],
                }
            )
            if name == "Hercules_6.jpg" and p.get("iiurlwidth"):  # the API's server-made thumbnail
                pages[-1]["imageinfo"][0].update(
                    thumburl=srv.base + "/images/thumbs/hercules_6_1024.jpg", thumbwidth=96, thumbheight=72
                )
        body: dict = {"batchcomplete": True, "query": {"pages": pages}}
        if start + PAGE < len(names):
            body["continue"] = {
                key: str(start + PAGE),
                "continue": f"{key[:-8] if key.endswith('continue') else 'gsroffset'}||",
            }  # noqa: E501
        self._send(200, json.dumps(body).encode(), "application/json")


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Emulator)
    srv.lock = threading.Lock()
    srv.log, srv.api_params, srv.agents, srv.pages, srv.robots = [], [], set(), {}, ROBOTS
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def polite(server_base: str | None = None, exempt: tuple[str, ...] = ()) -> PoliteFetcher:
    http = HttpClient(backoff=0.01)
    return PoliteFetcher(http, RobotsPolicy(http), HostPacer(0.0), exempt=exempt)


def commons_crawl(server, out, limit, fetcher=None):
    fetcher = fetcher or polite()
    source = CommonsSource(fetcher, api_url=server.base + "/w/api.php")
    fetcher.exempt = source.api_urls
    return crawl(source, ["c-130"], out, fetcher, CrawlOptions(limit=limit), quiet=True)


def image_requests(server) -> list[str]:
    return [p for p in server.log if p.startswith(("/images/", "/private/"))]


def test_commons_crawl_honours_robots_flags_no_license_and_dedups(server, tmp_path):
    card = commons_crawl(server, tmp_path / "web", limit=50)
    frame = read_manifest(tmp_path / "web")
    # robots.txt was read and its disallowed path never requested
    assert "/robots.txt" in server.log
    assert not [p for p in server.log if p.startswith("/private/")]
    # continuation: files from later pages of both generators arrived; 429 and maxlag were retried
    urls = set(frame["url"])
    assert {server.base + FILES[n][0] for n in ("Hercules_2.jpg", "Hercules_nolicense.jpg")} <= urls
    assert server.base + "/images/thumbs/hercules_6_1024.jpg" in urls  # thumbnails preferred to originals
    assert "/images/hercules_6.jpg" not in server.log
    assert any("gcmcontinue" in p for p in server.api_params) and any("gsroffset" in p for p in server.api_params)
    # duplicate content (Hercules_copy = Hercules_1 bytes) kept once; Hercules_2 in both lists fetched once
    assert frame["sha256"].is_unique and len(frame) == 7
    assert image_requests(server).count("/images/hercules_2.jpg") == 1
    assert card["crawl"]["skipped"] == {"duplicate_content": 1, "robots_disallowed": 1}
    # every row: license and attribution, or a flag saying which is missing
    for row in frame.to_dict("records"):
        assert row["view"] == "web" and row["category"] == "c-130" and row["source"] == "wikimedia"
        assert row["license"] or "no_license" in row["issues"]
        assert row["attribution"] or "no_attribution" in row["issues"]
        assert (tmp_path / "web" / row["path"]).is_file()
    flagged = frame[frame["issues"].map(lambda i: "no_license" in i)]
    assert flagged["url"].tolist() == [server.base + "/images/hercules_nolicense.jpg"]
    ann = frame[frame["url"] == server.base + "/images/hercules_1.jpg"].iloc[0]
    assert ann["license"] == "CC BY-SA 4.0" and ann["attribution"] == "Ann, CC BY-SA 4.0, via Wikimedia Commons"
    assert card["crawl"]["no_license"] == 1
    assert all(agent.startswith("web2sky-bench/") for agent in server.agents)


def test_crawl_stops_at_limit(server, tmp_path):
    commons_crawl(server, tmp_path / "web", limit=2)
    frame = read_manifest(tmp_path / "web")
    assert len(frame) == 2
    assert len(image_requests(server)) == 2  # nothing fetched past the limit
    assert not any("gsrsearch" in p for p in server.api_params)  # the search generator was never needed


class Interrupt(BaseException):
    pass


class InterruptingFetcher(HttpClient):
    """Raises after ``after`` image downloads, like a Ctrl-C in the middle of a crawl."""

    def __init__(self, after: int) -> None:
        super().__init__(backoff=0.01)
        self.after = after

    def get(self, url, **kw):
        if "/images/" in url:
            if self.after == 0:
                raise Interrupt
            self.after -= 1
        return super().get(url, **kw)


def test_crawl_resumes_after_interruption_without_duplicates(server, tmp_path):
    out = tmp_path / "web"
    http = InterruptingFetcher(after=3)
    with pytest.raises(Interrupt):
        commons_crawl(server, out, limit=5, fetcher=PoliteFetcher(http, RobotsPolicy(http), HostPacer(0.0)))
    assert (out / STATE_FILE).is_file()
    first = image_requests(server)
    server.log.clear()
    commons_crawl(server, out, limit=5)
    frame = read_manifest(out)
    assert len(frame) == 5 and frame["url"].is_unique and frame["image_id"].is_unique
    second = image_requests(server)
    assert not set(first) & set(second)  # nothing downloaded twice
    assert len(list((out / "images/web/c-130").iterdir())) == 5
    # a third run is a no-op: the limit is met
    server.log.clear()
    commons_crawl(server, out, limit=5)
    assert image_requests(server) == [] and len(read_manifest(out)) == 5


def test_urllist_sources_txt_csv_parquet(server, tmp_path):
    b = server.base
    (tmp_path / "l.txt").write_text(f"# c-130 photos\n{b}/images/hercules_3.jpg\n{b}/private/hercules_secret.jpg\n")
    card = run_crawl("urllist", tmp_path / "t", ["Hercules"], list_path=str(tmp_path / "l.txt"), interval=0, quiet=True)
    frame = read_manifest(tmp_path / "t")
    assert frame["url"].tolist() == [f"{b}/images/hercules_3.jpg"] and frame["issues"][0] == [
        "no_license",
        "no_attribution",
    ]
    assert card["crawl"]["skipped"] == {"robots_disallowed": 1}
    table = pd.DataFrame(
        {
            "url": [f"{b}/images/hercules_4.jpg", f"{b}/images/hercules_5.jpg", f"{b}/images/noai.jpg"],
            "category": ["c-130", "Boeing 737", "c-130"],
            "license": ["CC BY 4.0", "CC0", "CC0"],
            "attribution": ["Fay", "Gus", "Noa"],
            "source_page": [None, None, None],
        }
    )
    table.to_csv(tmp_path / "l.csv", index=False)
    table.to_parquet(tmp_path / "l.parquet")
    for name in ("l.csv", "l.parquet"):
        card = run_crawl(
            "urllist",
            tmp_path / f"out-{name}",
            all_categories=True,
            list_path=str(tmp_path / name),
            interval=0,
            quiet=True,
        )
        frame = read_manifest(tmp_path / f"out-{name}").sort_values("url")
        assert frame["category"].tolist() == ["c-130", "boeing-737"]
        assert frame["license"].tolist() == ["CC BY 4.0", "CC0"] and frame["issues"].map(len).sum() == 0
        assert card["crawl"]["skipped"] == {"x_robots_tag": 1}
    with pytest.raises(Web2SkyError, match="no category"):
        run_crawl("urllist", tmp_path / "x", all_categories=True, list_path=str(tmp_path / "l.txt"), interval=0)


def test_html_pages_img_srcset_and_license(server, tmp_path):
    server.pages["/pages/c130.html"] = (
        "<html><head><meta name='author' content='Page Author'></head><body>"
        "<img src='/images/hercules_3.jpg' alt='a'>"
        "<img src='/images/small.jpg' srcset='/images/hercules_2.jpg 320w, /images/hercules_4.jpg 1024w'>"
        "<img src='/private/hercules_secret.jpg'><img src='data:image/png;base64,AAAA'>"
        "<img src='/images/hercules_5.jpg' data-license='CC0' data-attribution='Gus'>"
        "<p><a rel='license' href='https://creativecommons.org/licenses/by/4.0/'>CC BY 4.0</a></p></body></html>"
    )
    (tmp_path / "pages.txt").write_text(f"{server.base}/pages/c130.html c-130\n{server.base}/private/page.html c-130\n")
    run_crawl(
        "html", tmp_path / "h", all_categories=True, list_path=str(tmp_path / "pages.txt"), interval=0, quiet=True
    )
    frame = read_manifest(tmp_path / "h").set_index("url")
    b = server.base
    assert sorted(frame.index) == sorted(f"{b}/images/hercules_{n}.jpg" for n in (3, 4, 5))
    assert frame.loc[f"{b}/images/hercules_3.jpg", "license"] == "CC BY 4.0"
    assert frame.loc[f"{b}/images/hercules_3.jpg", "attribution"] == "Page Author"
    assert frame.loc[f"{b}/images/hercules_5.jpg", "license"] == "CC0"
    assert not [p for p in server.log if p.startswith("/private/")]
    assert "/images/small.jpg" not in server.log


def test_cli_crawl_wikimedia(server, tmp_path):
    result = CliRunner().invoke(
        cli.main,
        [
            "crawl",
            "wikimedia",
            "--category",
            "c-130",
            "--limit",
            "3",
            "--out",
            str(tmp_path / "w"),
            "--api-url",
            server.base + "/w/api.php",
            "--interval",
            "0",
            "--contact",
            "test@example.org",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "kept 3 images" in result.output
    assert read_card(tmp_path / "w")["crawl"]["kept"] == 3
    assert any("test@example.org" in a for a in server.agents)
    bad = CliRunner().invoke(cli.main, ["crawl", "wikimedia", "--out", str(tmp_path / "z")])
    assert bad.exit_code == 2 and "--category" in bad.output


def test_queries_and_srcset():
    tax = taxonomy.load()
    q = queries_for(tax.get("boeing-737"))
    assert q[0] == "Boeing 737" and "737 aircraft" not in q and "737 MAX aircraft" in q
    assert queries_for(tax.get("perry-class"))[1] == "Perry ship"
    assert best_srcset("a.jpg 1x, b.jpg 2x") == "b.jpg" and best_srcset("a.jpg 800w, b.jpg 300w") == "a.jpg"


def test_state_log_survives_a_cut_line_and_retries_transient_failures(server, tmp_path):
    out = tmp_path / "web"
    b = server.base
    (out).mkdir()
    # a previous run: one kept image, one 404 (final), one connection failure (transient), then a cut line
    with open(out / STATE_FILE, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"url": f"{b}/images/hercules_2.jpg", "reason": "fetch_failed"}) + "\n")
        fh.write(json.dumps({"url": f"{b}/images/missing.jpg", "reason": "http_404"}) + "\n")
        fh.write('{"url": "' + b + '/images/hercules_3.jpg", "row": {"image_')
    (tmp_path / "l.txt").write_text("".join(f"{b}/images/{n}.jpg\n" for n in ("missing", "hercules_2", "hercules_3")))
    run_crawl("urllist", out, ["c-130"], list_path=str(tmp_path / "l.txt"), interval=0, quiet=True)
    assert "/images/missing.jpg" not in server.log  # a final failure is not retried
    assert sorted(read_manifest(out)["url"]) == [f"{b}/images/hercules_2.jpg", f"{b}/images/hercules_3.jpg"]
    lines = (out / STATE_FILE).read_text().splitlines()
    assert all(json.loads(line) for line in lines[3:])  # new events start on their own line


def test_pacer_spaces_requests_per_host_and_robots_crawl_delay(server):
    import time

    pacer = HostPacer(0.05)
    start = time.monotonic()
    for _ in range(4):
        pacer.wait("http://a.example/x")
    pacer.wait("http://b.example/x")  # another host does not wait for a.example
    assert 0.15 <= time.monotonic() - start < 1.0
    server.robots = "User-agent: web2sky-bench\nCrawl-delay: 2\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n"
    robots = RobotsPolicy(HttpClient(backoff=0.01))
    assert robots.delay(server.base + "/images/a.jpg") == 2.0  # our own group, not '*', applies
    assert not robots.allowed(server.base + "/private/a.jpg") and robots.allowed(server.base + "/images/a.jpg")
