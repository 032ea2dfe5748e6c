"""The shipped taxonomy: size, public-label coverage, alias lookup, helpful errors."""

from __future__ import annotations

import pytest

from web2sky_bench import taxonomy
from web2sky_bench.errors import Web2SkyError

MAR20 = {
    "A1": "su-35", "A2": "c-130", "A3": "c-17", "A4": "c-5", "A5": "f-16", "A6": "tu-160",
    "A7": "e-3", "A8": "b-52", "A9": "p-3c", "A10": "b-1b", "A11": "e-8", "A12": "tu-22m",
    "A13": "f-15", "A14": "kc-135", "A15": "f-22", "A16": "fa-18", "A17": "tu-95",
    "A18": "kc-10", "A19": "su-34", "A20": "su-24",
}


def test_size_per_super_category():
    tax = taxonomy.load()
    assert len(tax.ids_for("aircraft")) >= 30
    assert len(tax.ids_for("ship")) >= 30


def test_every_mar20_label_maps_to_exactly_one_category():
    tax = taxonomy.load()
    labels = tax.source_labels("mar20")
    assert sorted(labels, key=lambda s: int(s[1:])) == [f"A{i}" for i in range(1, 21)]
    assert labels == MAR20
    owners = [c.id for c in tax for lab in c.source_labels.get("mar20", ())]
    assert len(owners) == len(set(owners)) == 20


@pytest.mark.parametrize(
    "dataset,label,expected",
    [
        ("fair1m", "Boeing737", "boeing-737"),
        ("fair1m", "Liquid Cargo Ship", "oil-tanker"),
        ("hrsc2016", "Arleigh Burke", "arleigh-burke-class"),
        ("hrsc2016", "aircraft carrier", "aircraft-carrier-other"),  # level-2 only labels
        ("hrsc2016", "warcraft", "warship-other"),
        ("hrsc2016", "merchant ship", "merchant-other"),
        ("hrsc2016", "ship", "ship-other"),
        ("shiprsimagenet", "LSD 41 LL", "whidbey-island-class"),
        ("fgsc23", "14", "container-ship"),
        ("fgvc_aircraft", "F/A-18", "fa-18"),
        ("fgvc_aircraft", "737-800", "boeing-737"),
    ],
)
def test_public_labels(dataset, label, expected):
    assert taxonomy.load().from_source_label(dataset, label) == expected


def test_alias_resolution_folds_case_and_punctuation():
    tax = taxonomy.load()
    assert tax.resolve("F/A-18") == "fa-18"
    assert tax.resolve("stratofortress") == "b-52"
    assert tax.resolve("Arleigh  Burke") == "arleigh-burke-class"


def test_unknown_label_lists_closest():
    tax = taxonomy.load()
    with pytest.raises(Web2SkyError, match="closest matches: .*b-52"):
        tax.resolve("B-53")
    with pytest.raises(Web2SkyError, match="closest: .*A1"):
        tax.from_source_label("mar20", "A21")


def test_family_hierarchy_complete():
    for cat in taxonomy.load():
        assert cat.family and cat.display_name and cat.super_category in taxonomy.SUPER_CATEGORIES


def test_dataset_folder_taxonomy_wins(tmp_path):
    (tmp_path / "taxonomy.csv").write_text(
        "category,super_category,family,display_name,aliases\nwidget-jet,aircraft,toy,Widget jet,wj\n"
    )
    tax = taxonomy.for_dataset(tmp_path)
    assert tax.ids == ["widget-jet"] and tax.resolve("WJ") == "widget-jet"
