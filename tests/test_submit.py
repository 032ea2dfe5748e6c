"""External submissions: valid files score and land as external entries; each bad file is rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from eval_data import CLASSES, make_eval_dataset

from web2sky_bench.cli import main
from web2sky_bench.errors import Web2SkyError
from web2sky_bench.evaluate.entries import load_entry
from web2sky_bench.evaluate.submit import submit

AIR = ["c-130", "su-35"]


@pytest.fixture
def ds(tmp_path):
    return make_eval_dataset(tmp_path)


def _test_ids(track):
    cats = [c for c, s in CLASSES.items() if track == "all" or s == track]
    return sorted(f"{c}-test{i}" for c in cats for i in range(3)), cats


def _labels_file(path, rows):
    pd.DataFrame(rows, columns=["image_id", "category"]).to_csv(path, index=False)
    return path


def _probs(track="aircraft"):
    ids, cats = _test_ids(track)
    classes = sorted(cats)
    frame = pd.DataFrame(0.0, index=ids, columns=classes)
    for i in ids:  # a correct, confident prediction for every image
        frame.loc[i, i.rsplit("-", 1)[0]] = 0.9
        frame.loc[i, [c for c in classes if c != i.rsplit("-", 1)[0]]] = 0.1 / (len(classes) - 1)
    return frame.rename_axis("image_id").reset_index()


def test_label_submission_scores_and_writes_external_entry(ds, tmp_path):
    ids, _ = _test_ids("aircraft")
    rows = [(i, i.rsplit("-", 1)[0]) for i in ids]
    rows[0] = (rows[0][0], "su-35" if rows[0][1] == "c-130" else "c-130")  # one mistake out of 6
    f = _labels_file(tmp_path / "p.csv", rows)
    lb = tmp_path / "lb"
    res = CliRunner().invoke(main, ["submit", str(f), "--dataset", str(ds), "--track", "aircraft",
                                    "--model-name", "My <b>Net</b>", "--shots", "4", "--seed", "2",
                                    "--leaderboard", str(lb)])
    assert res.exit_code == 0, res.output
    path = next(lb.glob("tiny-eval/aircraft/entries/ext-*.json"))
    entry = load_entry(path)
    assert entry["model"]["external"] is True and entry["model"]["name"] == "My <b>Net</b>"
    run = entry["results"]["4"]["runs"][0]
    assert run["seed"] == 2 and run["top1"] == pytest.approx(5 / 6) and entry["classes"] == AIR
    assert "83.3" in res.output


def test_probability_submission(ds, tmp_path):
    f = tmp_path / "p.csv"
    _probs("all").to_csv(f, index=False)
    entry, csv = submit(f, ds, "all", "probnet")
    assert entry["results"]["all"]["runs"][0]["top1"] == 1.0
    assert b"0.900000" in csv


def _expect(ds, path, message, track="aircraft"):
    with pytest.raises(Web2SkyError, match=message):
        submit(path, ds, track, "bad")


def test_rejects_id_problems(ds, tmp_path):
    ids, _ = _test_ids("aircraft")
    good = [(i, "su-35") for i in ids]
    _expect(ds, _labels_file(tmp_path / "a.csv", good[1:]), r"1 aerial test image_id\(s\) of track aircraft missing")
    _expect(ds, _labels_file(tmp_path / "b.csv", good + [("ghost", "su-35")]), r"image_id\(s\) not in the aerial test set.*ghost")
    _expect(ds, _labels_file(tmp_path / "c.csv", good + [good[0]]), r"1 duplicate image_id\(s\)")
    _expect(ds, _labels_file(tmp_path / "d.csv", [(i, "f-22") for i in ids]), "unknown category for track aircraft: f-22")
    (tmp_path / "e.csv").write_text("id,category\nx,su-35\n")
    _expect(ds, tmp_path / "e.csv", "no image_id column")


def test_rejects_probability_problems(ds, tmp_path):
    def write(name, mutate):
        frame = _probs()
        mutate(frame)
        frame.to_csv(tmp_path / name, index=False)
        return tmp_path / name

    _expect(ds, write("nan.csv", lambda f: f.__setitem__("su-35", [np.nan] + f["su-35"].tolist()[1:])), "NaN")
    _expect(ds, write("neg.csv", lambda f: f.loc.__setitem__((0, "su-35"), -0.1)), "negative probabilities")
    _expect(ds, write("sum.csv", lambda f: f.loc.__setitem__((1, "su-35"), 0.5)), "do not sum to 1")
    _expect(ds, write("unk.csv", lambda f: f.__setitem__("f-22", 0.0)), r"unknown category \(columns\).*f-22")
    _expect(ds, write("miss.csv", lambda f: f.pop("su-35")), "probability column.*missing.*su-35")


def test_rejects_wrong_track_empty_and_encoding(ds, tmp_path):
    ship_ids, _ = _test_ids("ship")
    f = _labels_file(tmp_path / "ship.csv", [(i, "nimitz-class") for i in ship_ids])
    _expect(ds, f, "predictions for track 'ship', not 'aircraft'.*pass --track ship")
    (tmp_path / "empty.csv").write_bytes(b"")
    _expect(ds, tmp_path / "empty.csv", "is empty")
    (tmp_path / "header.csv").write_text("image_id,category\n")
    _expect(ds, tmp_path / "header.csv", "header but no rows")
    ids, _ = _test_ids("aircraft")
    (tmp_path / "latin1.csv").write_bytes(("image_id,category\n" + "".join(f"{i},su-35 é\n" for i in ids)).encode("latin-1"))
    _expect(ds, tmp_path / "latin1.csv", "not UTF-8 text")
    res = CliRunner().invoke(main, ["submit", str(f), "--dataset", str(ds), "--track", "planes", "--model-name", "x"])
    assert res.exit_code == 2 and "planes" in res.output


def test_bom_is_accepted(ds, tmp_path):
    ids, _ = _test_ids("ship")
    text = "image_id,category\n" + "".join(f"{i},{i.rsplit('-', 1)[0]}\n" for i in ids)
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    entry, _ = submit(tmp_path / "bom.csv", ds, "ship", "bom")
    assert entry["results"]["all"]["aggregate"]["top1"]["mean"] == 1.0


def test_multi_run_file_becomes_one_entry(ds, tmp_path):
    ids, _ = _test_ids("ship")
    rows = [(k, s, i, i.rsplit("-", 1)[0] if s == 1 else "nimitz-class") for k in ("1", "all") for s in (1, 2) for i in ids]
    pd.DataFrame(rows, columns=["shots", "seed", "image_id", "category"]).to_csv(tmp_path / "m.csv", index=False)
    entry, csv = submit(tmp_path / "m.csv", ds, "ship", "multi")
    assert entry["protocol"]["shots"] == ["1", "all"] and entry["protocol"]["seeds"] == [1, 2]
    assert entry["results"]["1"]["aggregate"]["top1"]["mean"] == pytest.approx(0.75)
    assert entry["predictions_rows"] == 4 * len(ids)
    with pytest.raises(Web2SkyError, match="do not also pass --shots/--seed"):
        submit(tmp_path / "m.csv", ds, "ship", "multi", shots=4)
    pd.DataFrame(rows[: len(ids) + 1], columns=["shots", "seed", "image_id", "category"]).to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(Web2SkyError, match=r"k=1, seed=2.*missing"):
        submit(tmp_path / "n.csv", ds, "ship", "multi")
