"""Concept pools: curated coverage, dataset pools, LLM generation against a local server, filtering."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from click.testing import CliRunner
from tiny_clip import TINY_NAME, save_tiny_checkpoint

from web2sky_bench import taxonomy
from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.io.atomic import write_json
from web2sky_bench.models.concepts import (
    ChatClient,
    filter_concepts,
    generate_concepts,
    load_concepts,
    parse_concept_list,
    read_concepts_file,
)
from web2sky_bench.paths import manifests_dir


@pytest.mark.parametrize("super_category", ["aircraft", "ship"])
def test_curated_pools_cover_every_category_with_six_or_more(super_category):
    pool = read_concepts_file(manifests_dir() / "concepts" / f"{super_category}.json")
    ids = taxonomy.load().ids_for(super_category)
    assert sorted(pool) == sorted(ids)
    for cat, concepts in pool.items():
        assert len(concepts) >= 6, cat
        assert len({c.lower() for c in concepts}) == len(concepts), cat
        assert all(4 <= len(c) <= 60 for c in concepts), cat


def test_load_concepts_orders_by_class_and_reports_missing(tmp_path):
    pools = load_concepts(["nimitz-class", "b-52"])
    assert list(pools) == ["nimitz-class", "b-52"]
    assert "angled landing deck" in pools["nimitz-class"]
    with pytest.raises(Web2SkyError, match="no concepts for made-up-class.*concepts generate"):
        load_concepts(["b-52", "made-up-class"])


def test_dataset_pool_overrides_and_is_required_for_synth(tmp_path):
    write_json(tmp_path / "dataset.json", {"name": "web2sky-synth-mini", "version": "1"})
    with pytest.raises(Web2SkyError, match="concepts.json is missing"):
        load_concepts(["synth-a"], dataset_dir=tmp_path)
    write_json(tmp_path / "concepts.json", {"synth-a": ["two red fins"], "b-52": ["eight engines"]})
    pools = load_concepts(["synth-a", "b-52", "c-17"], dataset_dir=tmp_path)
    assert pools["synth-a"] == ["two red fins"] and pools["b-52"] == ["eight engines"]
    assert "T-tail" in pools["c-17"]  # curated pools still fill the rest
    extra = tmp_path / "extra.json"
    write_json(extra, {"b-52": ["outrigger wheels"]})
    assert load_concepts(["b-52"], dataset_dir=tmp_path, path=extra)["b-52"] == ["outrigger wheels"]
    (tmp_path / "bad.json").write_text('{"b-52": "not a list"}')
    with pytest.raises(Web2SkyError, match="list of non-empty strings"):
        load_concepts(["b-52"], path=tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Sure! ["T-tail", "four engines", "t-tail"]', ["T-tail", "four engines"]),
        ("Features:\n1. T-tail.\n2) high wing\n- rear ramp\n* \"winglets\"", ["T-tail", "high wing", "rear ramp", "winglets"]),
    ],
)
def test_parse_concept_list(text, expected):
    assert parse_concept_list(text) == expected


class _ChatServer:
    """A local HTTP server speaking the chat-completions protocol."""

    def __init__(self, answers: dict[str, str], status: int = 200) -> None:
        self.requests: list[dict] = []
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                outer.auth.append(self.headers.get("Authorization"))
                prompt = body["messages"][-1]["content"]
                content = next((a for name, a in answers.items() if f'"{name}"' in prompt), "[]")
                reply = {"id": "x", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}]}
                data = json.dumps(reply if status == 200 else {"error": "boom"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


ANSWERS = {
    "Boeing B-52 Stratofortress": json.dumps(
        ["eight engines in paired pods", "outrigger wheels", "engines eight in pods paired",
         "a very long description of the whole airframe from nose to tail", "B-52 Stratofortress"]),
    "Lockheed C-130 Hercules": "1. four turboprops\n2. high wing\n3. rear cargo ramp",
}


@pytest.fixture
def server():
    srv = _ChatServer(ANSWERS)
    yield srv
    srv.close()


def _bag_of_words(texts: list[str]) -> torch.Tensor:
    """A deterministic text encoder: hashed bag of lowercase words, L2-normalised."""
    out = torch.zeros(len(texts), 64)
    for i, text in enumerate(texts):
        for word in text.lower().replace("-", " ").split():
            out[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 64] += 1
    return torch.nn.functional.normalize(out, dim=1)


def test_generate_asks_once_per_class_caches_and_filters(server, monkeypatch):
    monkeypatch.setenv("WEB2SKY_LLM_API_KEY", "sk-test")
    client = ChatClient(server.url, "test-model", retries=0)
    kept, removed = generate_concepts(["B-52", "c-130"], client, encode_text=_bag_of_words, quiet=True)
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"] * 2
    body = server.requests[0]["body"]
    assert body["model"] == "test-model" and body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert server.auth == ["Bearer sk-test"] * 2
    assert kept == {"b-52": ["eight engines in paired pods", "outrigger wheels"],
                    "c-130": ["four turboprops", "high wing", "rear cargo ramp"]}
    reasons = {r.concept: r.reason for r in removed}
    assert "longer than 30" in reasons["a very long description of the whole airframe from nose to tail"]
    assert "to 'eight engines in paired pods'" in reasons["engines eight in pods paired"]
    assert "to class name 'Boeing B-52 Stratofortress'" in reasons["B-52 Stratofortress"]

    again = ChatClient(server.url.removesuffix("/v1") + "/v1/chat/completions", "test-model")
    assert generate_concepts(["b-52", "c-130"], again, encode_text=_bag_of_words, quiet=True)[0] == kept
    assert len(server.requests) == 2 and again.requests_made == 0  # answered from the cache


def test_filter_without_encoder_checks_length_and_repeats():
    kept, removed = filter_concepts({"x": ["T-tail", "t-tail", "y" * 31]}, {"x": "X"})
    assert kept == {"x": ["T-tail"]} and [r.reason for r in removed] == ["repeated", "longer than 30 characters"]


@pytest.mark.parametrize(("status", "message"), [(500, "HTTP 500"), (401, "HTTP 401 \\(set WEB2SKY_LLM_API_KEY\\)")])
def test_endpoint_errors_are_user_errors(status, message):
    srv = _ChatServer({}, status=status)
    try:
        with pytest.raises(Web2SkyError, match=message):
            ChatClient(srv.url, "m", retries=0).complete([{"role": "user", "content": "hi"}])
    finally:
        srv.close()


def test_unreachable_endpoint_is_a_user_error():
    with pytest.raises(Web2SkyError, match="cannot reach the LLM endpoint"):
        ChatClient("http://127.0.0.1:9/v1", "m", retries=0, timeout=2).complete([{"role": "user", "content": "x"}])


def test_cli_generate_and_show(server, tmp_path):
    out = tmp_path / "gen.json"
    ckpt = save_tiny_checkpoint(tmp_path / "tiny")
    runner = CliRunner()
    res = runner.invoke(main, ["concepts", "generate", "--llm-url", server.url, "--llm-model", "m",
                               "--out", str(out), "--categories", "b-52,c-130", "--quiet",
                               "--backbone", TINY_NAME, "--pretrained", str(ckpt)])
    assert res.exit_code == 0, res.output
    assert "2 requests" in res.output and "dropped [b-52]" in res.output
    generated = json.loads(out.read_text())
    assert set(generated) == {"b-52", "c-130"}
    assert set(generated["c-130"]) <= {"four turboprops", "high wing", "rear cargo ramp"}
    assert generated["c-130"][0] == "four turboprops"

    res = runner.invoke(main, ["concepts", "show", "Hercules", "--file", str(out)])
    assert res.exit_code == 0, res.output
    assert "c-130 (Lockheed C-130 Hercules" in res.output and "1. four turboprops" in res.output

    res = runner.invoke(main, ["concepts", "generate", "--llm-url", server.url, "--llm-model", "m",
                               "--out", str(out), "--categories", "b-52", "--backbone", "ViT-B-16",
                               "--pretrained", "openai"], env={"HF_HUB_OFFLINE": "1"})
    assert res.exit_code == 2 and "--no-embedding-filter" in res.output
