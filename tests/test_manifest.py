"""The manifest contract: valid manifests round-trip, each kind of bad input is rejected."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from web2sky_bench import manifest
from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError


def test_roundtrip_parquet(tmp_path, small_rows):
    frame = manifest.new_rows(small_rows)
    path = manifest.write_manifest(frame, tmp_path)
    back = manifest.read_manifest(path)
    assert list(back.columns) == list(manifest.COLUMN_NAMES)
    assert back["image_id"].tolist() == [r["image_id"] for r in small_rows]
    assert back["issues"].tolist() == [[]] * len(small_rows)
    assert str(back["width"].dtype) == "Int64"


def test_csv_input_accepted(tmp_path, small_rows):
    frame = manifest.new_rows(small_rows)
    frame.loc[0, "issues"] = None
    frame.at[0, "issues"] = ["blurry", "too_dark"]
    frame.to_csv(tmp_path / "m.csv", index=False)
    back = manifest.read_manifest(tmp_path / "m.csv")
    assert back.loc[0, "issues"] == ["blurry", "too_dark"]


def test_stats_counts(small_rows):
    table = manifest.stats(manifest.new_rows(small_rows))
    assert table.loc[("aerial", "ship", "nimitz-class"), "test"] == 1
    assert table["total"].sum() == len(small_rows)


def _bad_csv(tmp_path, small_rows, mutate):
    frame = manifest.new_rows(small_rows)
    frame = mutate(frame)
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def _set(col, value, row=2):
    def mutate(frame):
        frame[col] = frame[col].astype(object)
        frame.at[row, col] = value
        return frame

    return mutate


BAD_CASES = {
    "missing column": (lambda f: f.drop(columns=["sha256"]), ["missing column", "sha256"]),
    "wrong dtype": (_set("width", "wide"), ["'width'", "expected integers"]),
    "unknown category": (_set("category", "f-61"), ["row 2", "image_id='a1'", "'category'", "f-16"]),
    "duplicate image_id": (_set("image_id", "w1", row=3), ["row 3", "duplicate image_id"]),
    "absolute path": (_set("path", "/etc/passwd"), ["row 2", "'path'", "absolute path"]),
    "path escaping root": (_set("path", "images/../../secret.png"), ["row 2", "'path'", "escapes"]),
    "invalid split": (_set("split", "training"), ["row 2", "'split'", "training"]),
    "invalid view": (_set("view", "satellite"), ["row 2", "'view'"]),
    "bad sha256": (_set("sha256", "abc"), ["row 2", "'sha256'"]),
    "super mismatch": (_set("super_category", "ship"), ["row 2", "'super_category'"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_validate_rejects(tmp_path, small_rows, case):
    mutate, needles = BAD_CASES[case]
    path = _bad_csv(tmp_path, small_rows, mutate)
    with pytest.raises(Web2SkyError) as err:
        manifest.read_manifest(path)
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))
    # The CLI prints the same message without a traceback and exits 2.
    result = CliRunner().invoke(main, ["manifest", "validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert needles[-1] in result.output


def test_rejects_empty_file(tmp_path):
    path = tmp_path / "empty.parquet"
    path.write_bytes(b"")
    result = CliRunner().invoke(main, ["manifest", "validate", str(path)])
    assert result.exit_code == 2 and "empty" in result.output


def test_rejects_header_only_csv(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("")
    with pytest.raises(Web2SkyError, match="empty"):
        manifest.read_manifest(path)


def test_rejects_non_table_file(tmp_path):
    path = tmp_path / "manifest.parquet"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not a table")
    result = CliRunner().invoke(main, ["manifest", "validate", str(path)])
    assert result.exit_code == 2
    assert "neither Parquet" in result.output


def test_rejects_non_utf8_csv(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("image_id,view\n\xff\xfe,web\n".encode("latin-1"))
    with pytest.raises(Web2SkyError, match="UTF-8"):
        manifest.read_manifest(path)


def test_write_is_atomic_and_refuses_bad_frames(tmp_path, small_rows):
    good = manifest.new_rows(small_rows)
    path = manifest.write_manifest(good, tmp_path)
    before = path.read_bytes()
    bad = good.copy()
    bad.loc[0, "split"] = "nope"
    with pytest.raises(Web2SkyError):
        manifest.write_manifest(bad, tmp_path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_card_counts(tmp_path, small_rows):
    manifest.write_manifest(manifest.new_rows(small_rows), tmp_path)
    card = manifest.write_card(tmp_path, "tiny", "0.1")
    assert card["counts"]["images"] == 6
    assert card["counts"]["by_view"] == {"aerial": 4, "web": 2}
    assert manifest.read_card(tmp_path)["manifest_sha256"] == manifest.file_sha256(tmp_path / "manifest.parquet")


def test_stats_cli(tmp_path, small_rows):
    manifest.write_manifest(manifest.new_rows(small_rows), tmp_path)
    result = CliRunner().invoke(main, ["manifest", "stats", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "nimitz-class" in result.output and "total: train=3" in result.output


def test_dataframe_with_missing_values_in_required_column(small_rows):
    frame = manifest.new_rows(small_rows)
    frame.loc[1, "source"] = None
    with pytest.raises(Web2SkyError, match=r"row 1 \(image_id='w2'\), column 'source': missing value"):
        manifest.validate(frame)


def test_empty_manifest_is_valid():
    assert len(manifest.validate(manifest.empty())) == 0
    assert isinstance(manifest.empty(), pd.DataFrame)
