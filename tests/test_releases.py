"""The release registry: every entry is usable, checksums are real or null, presence checks."""

from __future__ import annotations

import re

from conftest import make_image_dataset

from web2sky_bench.acquire.releases import is_present, load_registry
from web2sky_bench.manifest import new_rows, write_card, write_manifest

EXPECTED = {"web2sky-synth", "web2sky-ship", "mar20", "hrsc2016", "shiprsimagenet", "fgsc23", "fair1m",
            "dota-v1", "fgvc-aircraft"}


def test_registry_entries_are_complete():
    registry = load_registry()
    assert EXPECTED <= set(registry)
    for rel in registry.values():
        assert rel.homepage.startswith("https://") and rel.license and rel.extra.get("layout")
        if rel.kind == "manual":
            assert "--archive" in rel.manual_instructions
        if rel.kind == "download":
            assert rel.files and all(f.urls for f in rel.files)
        for f in rel.files:
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.size is None or f.size > 0
    ship = registry["web2sky-ship"]
    assert ship.extra["password"] == "9qg9" and "1a49zhHnAoYwjAEubYsDiHg" in ship.extra["download_page"]


def test_generated_dataset_present_under_its_size_folder(tmp_path):
    assert not is_present("web2sky-synth", tmp_path)
    folder = tmp_path / "web2sky-synth-mini"
    rows = make_image_dataset(folder, [("a", "web", "aircraft", "f-16", "train")])
    write_manifest(new_rows(rows), folder)
    write_card(folder, "web2sky-synth-mini", "1")
    assert is_present("web2sky-synth", tmp_path)
    assert not is_present("mar20", tmp_path)
