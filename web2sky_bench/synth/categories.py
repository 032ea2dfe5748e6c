"""The synthetic categories: structural attributes, captions and concept phrases.

Every category is a point in a small space of structural attributes (wing
sweep and position, engine count and mounting, tail type, canards, ... for
aircraft; bow shape, superstructure position, flight deck, funnels, deck cargo,
... for ships). Several pairs differ in only one or two attributes, which makes
the benchmark fine-grained. Captions (per image) and concept phrases (per
category, view-invariant) are both built from these attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AircraftSpec:
    """Structural attributes of one aircraft category (lengths in metres)."""

    id: str
    display_name: str
    family: str
    length: float
    span_ratio: float  # wingspan / length
    fuselage_ratio: float  # fuselage diameter / length
    wing_position: str  # low | mid | high
    planform: str  # straight | swept | delta
    sweep_deg: float
    engine_count: int
    engine_mount: str  # underwing | rear-fuselage | internal | propeller
    tail: str  # conventional | t-tail | twin
    canards: bool = False
    tail_engine: bool = False  # a third engine at the base of the fin
    super_category: str = field(default="aircraft", init=False)


@dataclass(frozen=True)
class ShipSpec:
    """Structural attributes of one ship category (lengths in metres)."""

    id: str
    display_name: str
    family: str
    length: float
    beam_ratio: float  # beam / length
    bow: str  # pointed | blunt | rounded
    superstructure: str  # fore | mid | aft | full | island | none
    flight_deck: str  # none | helipad | full | angled
    funnels: int
    deck: str  # clear | containers | hatches | tanks | pipes | guns | cabins
    masts: int
    guns: int = 0
    freeboard_ratio: float = 0.05  # hull height above water / length
    submarine: bool = False
    super_category: str = field(default="ship", init=False)


AIRCRAFT: tuple[AircraftSpec, ...] = (
    AircraftSpec("synth-twinjet", "twinjet airliner", "airliner", 40, 0.88, 0.095,
                 "low", "swept", 28, 2, "underwing", "conventional"),
    AircraftSpec("synth-quadjet", "quadjet airliner", "airliner", 62, 0.95, 0.1,
                 "low", "swept", 36, 4, "underwing", "conventional"),
    AircraftSpec("synth-trijet", "trijet airliner", "airliner", 50, 0.92, 0.1,
                 "low", "swept", 32, 3, "underwing", "conventional", tail_engine=True),
    AircraftSpec("synth-regional-jet", "rear-engine regional jet", "airliner", 30, 0.85, 0.09,
                 "low", "swept", 25, 2, "rear-fuselage", "t-tail"),
    AircraftSpec("synth-airlifter", "high-wing jet airlifter", "military-transport", 53, 0.97, 0.13,
                 "high", "swept", 26, 4, "underwing", "t-tail"),
    AircraftSpec("synth-turboprop-4", "four-turboprop transport", "military-transport", 30, 1.35, 0.13,
                 "high", "straight", 3, 4, "propeller", "conventional"),
    AircraftSpec("synth-turboprop-2", "twin-turboprop transport", "military-transport", 25, 1.25, 0.12,
                 "high", "straight", 3, 2, "propeller", "conventional"),
    AircraftSpec("synth-turboprop-2t", "twin-turboprop t-tail commuter", "military-transport", 27, 1.05, 0.1,
                 "high", "straight", 3, 2, "propeller", "t-tail"),
    AircraftSpec("synth-twin-tail-fighter", "twin-tail fighter", "fighter", 19, 0.68, 0.11,
                 "mid", "swept", 45, 2, "internal", "twin"),
    AircraftSpec("synth-single-tail-fighter", "single-tail fighter", "fighter", 15, 0.65, 0.1,
                 "mid", "swept", 40, 1, "internal", "conventional"),
    AircraftSpec("synth-delta-canard-fighter", "delta-canard fighter", "fighter", 16, 0.7, 0.1,
                 "mid", "delta", 55, 1, "internal", "tailless", canards=True),
    AircraftSpec("synth-delta-fighter", "delta-wing fighter", "fighter", 15, 0.62, 0.1,
                 "mid", "delta", 60, 1, "internal", "tailless"),
)

SHIPS: tuple[ShipSpec, ...] = (
    ShipSpec("synth-carrier", "angled-deck aircraft carrier", "aircraft-carrier", 320, 0.12, "rounded",
             "island", "angled", 0, "clear", 1, freeboard_ratio=0.06),
    ShipSpec("synth-assault-ship", "straight-deck assault ship", "amphibious", 250, 0.13, "blunt",
             "island", "full", 1, "clear", 1, freeboard_ratio=0.07),
    ShipSpec("synth-destroyer", "single-funnel destroyer", "warship", 155, 0.13, "pointed",
             "mid", "helipad", 1, "guns", 1, guns=1),
    ShipSpec("synth-cruiser", "twin-funnel cruiser", "warship", 170, 0.11, "pointed",
             "mid", "helipad", 2, "guns", 2, guns=2),
    ShipSpec("synth-frigate", "forward-bridge frigate", "warship", 130, 0.13, "pointed",
             "fore", "helipad", 1, "guns", 1, guns=1),
    ShipSpec("synth-container-ship", "aft-bridge container ship", "merchant", 300, 0.14, "rounded",
             "aft", "none", 1, "containers", 1),
    ShipSpec("synth-container-midbridge", "mid-bridge container ship", "merchant", 300, 0.14, "rounded",
             "mid", "none", 1, "containers", 1),
    ShipSpec("synth-tanker", "crude oil tanker", "merchant", 280, 0.18, "blunt",
             "aft", "none", 1, "pipes", 1),
    ShipSpec("synth-bulk-carrier", "bulk carrier with deck cranes", "merchant", 230, 0.16, "blunt",
             "aft", "none", 1, "hatches", 4),
    ShipSpec("synth-lng-carrier", "spherical-tank gas carrier", "merchant", 290, 0.16, "rounded",
             "aft", "none", 1, "tanks", 1),
    ShipSpec("synth-cruise-ship", "cruise liner", "passenger", 300, 0.13, "rounded",
             "full", "none", 1, "cabins", 0, freeboard_ratio=0.08),
    ShipSpec("synth-submarine", "attack submarine", "submarine", 110, 0.09, "rounded",
             "none", "none", 0, "clear", 0, freeboard_ratio=0.02, submarine=True),
)

CATEGORIES: tuple[AircraftSpec | ShipSpec, ...] = AIRCRAFT + SHIPS
BY_ID: dict[str, AircraftSpec | ShipSpec] = {c.id: c for c in CATEGORIES}

_NUM = {0: "no", 1: "one", 2: "two", 3: "three", 4: "four"}


def attribute_phrases(spec: AircraftSpec | ShipSpec) -> list[str]:
    """View-invariant phrases describing the structure of a category."""
    if isinstance(spec, AircraftSpec):
        return _aircraft_phrases(spec)
    return _ship_phrases(spec)


def _aircraft_phrases(s: AircraftSpec) -> list[str]:
    wings = {
        "straight": "straight unswept wings",
        "swept": "swept-back wings" if s.sweep_deg < 40 else "sharply swept wings",
        "delta": "a large triangular delta wing",
    }[s.planform]
    position = {"low": "wings mounted low on the fuselage", "mid": "wings mounted at mid fuselage",
                "high": "wings mounted high on top of the fuselage"}[s.wing_position]
    if s.engine_mount == "underwing":
        engines = f"{_NUM[s.engine_count - int(s.tail_engine)]} jet engines in pods under the wings"
    elif s.engine_mount == "rear-fuselage":
        engines = f"{_NUM[s.engine_count]} jet engines mounted on the rear fuselage"
    elif s.engine_mount == "propeller":
        engines = f"{_NUM[s.engine_count]} propeller engines on the wings"
    else:
        engines = f"{_NUM[s.engine_count]} jet engine{'s' if s.engine_count > 1 else ''} inside the fuselage"
    tail = {"conventional": "a conventional tail with a single vertical fin",
            "t-tail": "a t-tail with the stabilizer on top of the fin",
            "twin": "twin vertical tail fins",
            "tailless": "a single fin and no horizontal tail"}[s.tail]
    body = ("a long slender fuselage" if s.span_ratio < 1.0 and s.family != "fighter"
            else "a wingspan much wider than the fuselage is long" if s.span_ratio > 1.1
            else "a short pointed fuselage")
    phrases = [wings, position, engines, tail, body,
               "canard foreplanes near the nose" if s.canards else "no canard foreplanes"]
    if s.tail_engine:
        phrases.append("a third engine at the base of the tail fin")
    if s.family == "fighter":
        phrases.append("a bubble cockpit canopy")
    else:
        phrases.append("a wide rounded fuselage" if s.fuselage_ratio >= 0.12 else "a narrow tube fuselage")
    return phrases


def _ship_phrases(s: ShipSpec) -> list[str]:
    if s.submarine:
        return ["a long cylindrical hull riding low in the water", "a tall sail near the bow",
                "no superstructure or funnels", "a rounded blunt bow", "a cross-shaped rudder at the stern",
                "a smooth dark hull without deck equipment"]
    bow = {"pointed": "a sharp pointed bow", "blunt": "a blunt full bow", "rounded": "a rounded bow"}[s.bow]
    sup = {"fore": "the bridge and superstructure near the bow",
           "mid": "the superstructure amidships",
           "aft": "the bridge and superstructure at the stern",
           "full": "a tall superstructure along the whole hull",
           "island": "a small island superstructure on the starboard side"}[s.superstructure]
    deck = {"none": "no flight deck", "helipad": "a helicopter landing pad at the stern",
            "full": "a straight flat flight deck over the whole hull",
            "angled": "a flat flight deck with an angled landing strip"}[s.flight_deck]
    cargo = {"clear": "an empty flat deck", "containers": "stacks of colourful containers on deck",
             "hatches": "a row of cargo hatches with deck cranes", "tanks": "large spherical cargo tanks on deck",
             "pipes": "pipelines running along a flat deck", "guns": "a gun turret on the foredeck",
             "cabins": "rows of cabin balconies and lifeboats"}[s.deck]
    funnels = (f"{_NUM[s.funnels]} funnel{'s' if s.funnels > 1 else ''}" if s.funnels else "no funnel")
    ratio = s.beam_ratio
    hull = ("a long narrow hull" if ratio < 0.13 else "a wide full hull" if ratio >= 0.16
            else "a moderately slender hull")
    phrases = [bow, sup, deck, cargo, funnels, hull]
    if s.guns >= 2:
        phrases.append("gun turrets at both bow and stern")
    if s.masts >= 3:
        phrases.append(f"{_NUM.get(s.masts, str(s.masts))} deck cranes")
    return phrases


def concepts(spec: AircraftSpec | ShipSpec) -> list[str]:
    """View-invariant concept phrases of a category (>= 6), used by CCA."""
    return attribute_phrases(spec)


WEB_CONTEXT = {
    "aircraft": ("flying in the sky", "seen from the side", "on the runway", "in flight"),
    "ship": ("at sea", "sailing on the ocean", "seen from the side", "on the water"),
}
AERIAL_CONTEXT = {
    "aircraft": ("parked on the tarmac", "on an airfield", "at an airport apron"),
    "ship": ("at sea", "in a harbour", "on the water"),
}


def caption(spec: AircraftSpec | ShipSpec, view: str, rng: np.random.Generator,
            livery: str | None = None, context: str | None = None) -> str:
    """A caption for one image: view, category name and a random subset of its attributes."""
    phrases = attribute_phrases(spec)
    k = int(rng.integers(2, 4))
    picked = [phrases[i] for i in sorted(rng.choice(len(phrases), size=k, replace=False))]
    if view == "web":
        head = str(rng.choice(["a photo of a", "a side view photo of a", "a picture of a"]))
        where = context or str(rng.choice(WEB_CONTEXT[spec.super_category]))
    else:
        head = str(rng.choice(["a satellite image of a", "an aerial view of a", "a top-down aerial image of a"]))
        where = context or str(rng.choice(AERIAL_CONTEXT[spec.super_category]))
    text = f"{head} {spec.display_name} {where}, with {', '.join(picked)}"
    if livery:
        text += f", {livery}"
    return text + "."


def class_prompt(spec: AircraftSpec | ShipSpec, view: str = "web") -> str:
    """The zero-shot prompt of a class in a view."""
    return f"a photo of a {spec.display_name}." if view == "web" else f"a satellite image of a {spec.display_name}."
