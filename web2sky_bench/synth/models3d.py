"""Build a 3D mesh of one aircraft or ship from its category attributes.

Within-category variation (a few percent of size and angle jitter, livery
colours) comes from the caller's random generator; the structure (engine count,
tail type, superstructure position, ...) is fixed by the category.
"""

from __future__ import annotations

import math

import numpy as np

from web2sky_bench.synth.categories import AircraftSpec, ShipSpec
from web2sky_bench.synth.geometry import (
    Mesh,
    box,
    fin,
    plate,
    prism,
    tube,
    vertical_cylinder,
)

# Livery palettes by family: (body, belly, accent) choices.
_AIRLINER_ACCENTS = [(200, 30, 40), (20, 60, 150), (0, 120, 90), (230, 150, 20), (90, 40, 130), (30, 30, 30)]
_MILITARY_BODY = [(150, 155, 160), (120, 128, 120), (105, 112, 100), (170, 172, 175), (128, 136, 148)]


def livery(spec: AircraftSpec | ShipSpec, rng: np.random.Generator) -> dict:
    """Random colours for one instance plus a short phrase describing them."""
    pick = lambda seq: seq[int(rng.integers(len(seq)))]
    jitter = lambda c, s=12: tuple(int(np.clip(v + rng.normal(0, s), 0, 255)) for v in c)
    if isinstance(spec, AircraftSpec):
        if spec.family == "airliner":
            body = jitter((236, 238, 240), 6)
            accent = pick(_AIRLINER_ACCENTS)
            return {"body": body, "belly": jitter((200, 204, 210), 8), "accent": accent,
                    "engine": jitter((190, 192, 196)), "phrase": "in a white airline livery"}
        body = jitter(pick(_MILITARY_BODY))
        return {"body": body, "belly": jitter(tuple(min(255, c + 25) for c in body), 5), "accent": body,
                "engine": jitter((90, 92, 95)), "phrase": "in a grey military paint scheme"}
    if spec.family in ("warship", "aircraft-carrier", "amphibious"):
        grey = jitter((128, 134, 140), 10)
        return {"hull": grey, "deck": jitter((95, 98, 102), 6), "super": jitter(tuple(c + 15 for c in grey), 4),
                "phrase": "painted navy grey"}
    if spec.family == "submarine":
        return {"hull": jitter((35, 37, 40), 5), "deck": jitter((40, 42, 45), 5), "super": jitter((45, 47, 50), 5),
                "phrase": "painted black"}
    if spec.family == "passenger":
        return {"hull": jitter((240, 240, 240), 6), "deck": jitter((200, 205, 200), 8),
                "super": jitter((245, 245, 245), 5), "phrase": "with a white hull"}
    hull = pick([(150, 30, 30), (30, 40, 60), (30, 80, 60), (40, 40, 40), (25, 60, 120)])
    return {"hull": jitter(hull), "deck": jitter(pick([(150, 70, 50), (80, 110, 80), (110, 110, 110)])),
            "super": jitter((236, 236, 230), 8), "phrase": "with a dark hull and a white bridge"}


# --- aircraft ----------------------------------------------------------------------------


def aircraft_mesh(spec: AircraftSpec, rng: np.random.Generator, colors: dict) -> Mesh:
    """A mesh of one aircraft instance, nose towards +x, centred near the origin."""
    L = spec.length * (1 + rng.normal(0, 0.03))
    span = spec.span_ratio * L * (1 + rng.normal(0, 0.025))
    sweep = math.radians(spec.sweep_deg + rng.normal(0, 1.5))
    r = spec.fuselage_ratio * L / 2
    fighter = spec.family == "fighter"
    body, belly, accent, engine = colors["body"], colors["belly"], colors["accent"], colors["engine"]
    mesh = Mesh()

    # fuselage
    if fighter:
        st = [(L / 2, 0.02 * r, 0.02 * r, 0.1 * r), (L / 2 - 0.12 * L, 0.5 * r, 0.5 * r, 0.1 * r),
              (L / 2 - 0.3 * L, 0.85 * r, 0.8 * r, 0.05 * r), (0, r, 0.75 * r, 0),
              (-L / 2 + 0.1 * L, (1.3 if spec.engine_count == 2 else 0.85) * r, 0.7 * r, 0),
              (-L / 2, (1.2 if spec.engine_count == 2 else 0.6) * r, 0.6 * r, 0)]
    else:
        st = [(L / 2, 0.08 * r, 0.08 * r, -0.1 * r), (L / 2 - 0.5 * r, 0.7 * r, 0.7 * r, -0.05 * r),
              (L / 2 - 1.6 * r, r, r, 0), (-L / 2 + 0.28 * L, r, r, 0),
              (-L / 2 + 0.06 * L, 0.45 * r, 0.5 * r, 0.35 * r), (-L / 2, 0.12 * r, 0.15 * r, 0.55 * r)]
    mesh.extend(tube(st, body, sides=8, belly=belly))
    if fighter:  # canopy
        mesh.extend(tube([(L / 2 - 0.16 * L, 0.02, 0.02, 0.7 * r), (L / 2 - 0.25 * L, 0.4 * r, 0.45 * r, 0.75 * r),
                          (L / 2 - 0.38 * L, 0.2 * r, 0.2 * r, 0.7 * r)], (40, 55, 75), sides=6, caps=False))
    else:  # cockpit windows
        mesh.extend(tube([(L / 2 - 0.45 * r, 0.55 * r, 0.2 * r, 0.45 * r), (L / 2 - 1.0 * r, 0.75 * r, 0.2 * r, 0.6 * r)],
                         (50, 60, 75), sides=6, caps=False))

    # wings
    wing_z = {"low": -0.6 * r, "mid": 0.0, "high": 0.85 * r}[spec.wing_position]
    semi = span / 2
    if spec.planform == "delta":
        cr, ct, x_le = 0.55 * L, 0.05 * L, 0.12 * L
    elif fighter:
        cr, ct, x_le = 0.3 * L, 0.1 * L, 0.05 * L
    elif spec.planform == "straight":
        cr, ct, x_le = 0.14 * L, 0.08 * L, 0.1 * L
    else:
        cr, ct, x_le = 0.2 * L, 0.055 * L, 0.14 * L

    def le_x(y: float) -> float:
        return x_le - math.tan(sweep) * max(0.0, y - r * 0.5)

    tip_le = le_x(semi)
    for side in (1, -1):
        outline = [(x_le, side * r * 0.5), (tip_le, side * semi), (tip_le - ct, side * semi), (x_le - cr, side * r * 0.5)]
        mesh.extend(plate(outline, wing_z, 0.03 * cr + 0.05, body, under=belly))
    if spec.canards:
        cs, cx = 0.22 * semi, L / 2 - 0.22 * L
        for side in (1, -1):
            mesh.extend(plate([(cx, side * r * 0.8), (cx - 0.1 * L, side * (r + cs)),
                               (cx - 0.14 * L, side * (r + cs)), (cx - 0.13 * L, side * r * 0.8)], 0.2 * r, 0.08, body))

    # engines
    pod_r = (0.034 if spec.engine_count == 2 else 0.027) * L
    pod_len = 0.12 * L
    positions: list[float] = []
    if spec.engine_mount == "underwing":
        n = spec.engine_count - int(spec.tail_engine)
        positions = {2: [0.34], 4: [0.3, 0.6]}[n]
    elif spec.engine_mount == "propeller":
        positions = {2: [0.3], 4: [0.24, 0.5]}[spec.engine_count]
        pod_r, pod_len = 0.022 * L, 0.16 * L
    for eta in positions:
        for side in (1, -1):
            y = side * (r + eta * (semi - r))
            xf = le_x(abs(y)) + (0.45 if spec.engine_mount == "underwing" else 0.6) * pod_len
            zc = wing_z - (1.25 * pod_r if spec.engine_mount == "underwing" else 0.2 * pod_r)
            mesh.extend(tube([(xf, 0.85 * pod_r, 0.85 * pod_r, zc), (xf - 0.1 * pod_len, pod_r, pod_r, zc),
                              (xf - 0.75 * pod_len, pod_r, pod_r, zc), (xf - pod_len, 0.55 * pod_r, 0.55 * pod_r, zc)],
                             engine, sides=8))
            if spec.engine_mount == "propeller":
                prop = 0.075 * L
                ang = np.linspace(0, 2 * math.pi, 12, endpoint=False)
                mesh.add(np.column_stack([np.full(12, xf + 0.05), y + prop * np.cos(ang), zc + prop * np.sin(ang)]),
                         (70, 70, 72))
    if spec.engine_mount == "rear-fuselage":
        pr = 0.05 * L
        for side in (1, -1):
            y, xf, zc = side * (r + 1.2 * pr), -L / 2 + 0.36 * L, 0.45 * r
            mesh.extend(tube([(xf, 0.85 * pr, 0.85 * pr, zc), (xf - 0.03 * L, pr, pr, zc),
                              (xf - 0.14 * L, 0.7 * pr, 0.7 * pr, zc)], engine, sides=8))
            mesh.extend(plate([(xf - 0.04 * L, side * 0.6 * r), (xf - 0.04 * L, y), (xf - 0.1 * L, y),
                               (xf - 0.1 * L, side * 0.6 * r)], zc, 0.1, body))
    if spec.engine_mount == "internal":
        for side in (1, -1):  # intakes
            mesh.extend(box(0.0, 0.16 * L, side * 0.7 * r, side * 1.35 * r, -0.45 * r, 0.35 * r, (70, 72, 75),
                            top=body))
        ys = [-0.5 * r, 0.5 * r] if spec.engine_count == 2 else [0.0]
        for y in ys:
            mesh.extend(tube([(-L / 2 + 0.03 * L, 0.45 * r, 0.45 * r, 0), (-L / 2 - 0.02 * L, 0.4 * r, 0.4 * r, 0)],
                             (55, 55, 58), sides=8).transformed(np.eye(3), (0, y, 0)))
    if spec.tail_engine:
        pr = pod_r * 0.95
        mesh.extend(tube([(-L / 2 + 0.2 * L, 0.8 * pr, 0.8 * pr, r + pr), (-L / 2 + 0.17 * L, pr, pr, r + pr),
                          (-L / 2 + 0.03 * L, 0.8 * pr, 0.8 * pr, r + 0.8 * pr)], engine, sides=8))

    # tail
    fin_h = (0.2 if fighter else 0.17) * L
    fin_root = (0.16 if fighter else 0.15) * L
    fin_sweep = math.radians(40 if fighter else 38)
    x_fin = -L / 2 + fin_root + 0.02 * L
    z0 = 0.3 * r if not fighter else 0.4 * r
    top_le = x_fin - math.tan(fin_sweep) * fin_h
    fin_outline = [(x_fin, z0), (top_le, z0 + fin_h), (top_le - 0.45 * fin_root, z0 + fin_h), (x_fin - fin_root, z0)]
    if spec.tail == "twin":
        for side in (1, -1):
            mesh.extend(fin(fin_outline, side * 0.9 * r, 0.15, accent))
    else:
        mesh.extend(fin(fin_outline, 0.0, 0.25, accent))
    if spec.tail != "tailless":
        hs = (0.38 if not fighter else 0.55) * semi
        hc = (0.11 if not fighter else 0.15) * L
        if spec.tail == "t-tail":
            hx, hz = top_le + 0.1 * hc, z0 + fin_h
        else:
            hx, hz = -L / 2 + 0.16 * L, (0.35 * r if not fighter else 0.0)
        hsweep = math.tan(sweep if spec.planform != "straight" else math.radians(8))
        for side in (1, -1):
            root_y = 0.0 if spec.tail == "t-tail" else 0.4 * r
            mesh.extend(plate([(hx, side * root_y), (hx - hsweep * hs, side * hs),
                               (hx - hsweep * hs - 0.45 * hc, side * hs), (hx - hc, side * root_y)], hz, 0.12, body))
    # centre the mesh lengthwise
    return mesh.transformed(np.eye(3), (0.0, 0.0, 0.0))


# --- ships -------------------------------------------------------------------------------


def _hull_half_width(x: np.ndarray, L: float, B: float, bow: str) -> np.ndarray:
    """Half-beam along the hull; x runs from -L/2 (stern) to L/2 (bow)."""
    t = (x + L / 2) / L  # 0 stern .. 1 bow
    start = {"pointed": 0.55, "rounded": 0.72, "blunt": 0.8}[bow]
    w = np.ones_like(t)
    fore = t > start
    u = (t[fore] - start) / (1 - start)
    if bow == "pointed":
        w[fore] = 1 - u ** 1.6
    else:
        w[fore] = np.sqrt(np.clip(1 - u ** 2, 0, 1))
    aft = t < 0.12
    w[aft] = 0.82 + 0.18 * (t[aft] / 0.12)
    return w * B / 2


def hull_outline(L: float, B: float, bow: str, n: int = 18) -> np.ndarray:
    """A closed hull planform (k, 2), port side stern-to-bow then starboard back."""
    xs = np.linspace(-L / 2, L / 2, n)
    w = _hull_half_width(xs, L, B, bow)
    w[-1] = 0.0 if bow == "pointed" else w[-1]
    port = np.column_stack([xs, w])
    starboard = np.column_stack([xs[::-1], -w[::-1]])
    pts = np.concatenate([port, starboard[1:] if w[-1] == 0 else starboard])
    return pts


def ship_mesh(spec: ShipSpec, rng: np.random.Generator, colors: dict) -> Mesh:
    """A mesh of one ship instance, bow towards +x, waterline at z = 0."""
    L = spec.length * (1 + rng.normal(0, 0.03))
    B = spec.beam_ratio * L * (1 + rng.normal(0, 0.03))
    h = spec.freeboard_ratio * L
    hull, deck, sup = colors["hull"], colors["deck"], colors["super"]
    mesh = Mesh()
    if spec.submarine:
        r = B / 2
        st = [(L / 2, 0.1 * r, 0.1 * r, 0), (L / 2 - 0.1 * L, 0.9 * r, 0.9 * r, 0), (-L / 2 + 0.25 * L, r, r, 0),
              (-L / 2 + 0.02 * L, 0.25 * r, 0.25 * r, 0)]
        sub = tube(st, hull, sides=10)
        sub.faces = [np.column_stack([f[:, :2], np.maximum(f[:, 2] - 0.55 * r, 0.0)]) for f in sub.faces]
        mesh.extend(sub)
        sx = L / 2 - 0.3 * L
        mesh.extend(box(sx - 0.1 * L, sx, -0.25 * r, 0.25 * r, 0, 0.09 * L + 0.45 * r, sup))
        for side in (1, -1):
            mesh.extend(plate([(-L / 2 + 0.07 * L, 0), (-L / 2 + 0.04 * L, side * 0.9 * r),
                               (-L / 2 + 0.01 * L, side * 0.9 * r), (-L / 2 + 0.02 * L, 0)], 0.4 * r, 0.2, sup))
        mesh.extend(fin([(-L / 2 + 0.07 * L, 0.4 * r), (-L / 2 + 0.04 * L, 0.4 * r + 0.05 * L),
                         (-L / 2 + 0.01 * L, 0.4 * r + 0.05 * L), (-L / 2 + 0.02 * L, 0.4 * r)], 0, 0.3, sup))
        return mesh

    outline = hull_outline(L, B, spec.bow)
    mesh.extend(prism(outline, 0.0, h, hull, top=deck))
    top = h

    # flight decks
    if spec.flight_deck in ("full", "angled"):
        dw = B * 0.62
        deck_poly = [(-L / 2, -dw), (L / 2 - 0.04 * L, -dw), (L / 2, -0.4 * dw), (L / 2, 0.4 * dw),
                     (L / 2 - 0.04 * L, dw), (-L / 2, dw)]
        if spec.flight_deck == "angled":
            deck_poly = [(-L / 2, -dw), (L / 2 - 0.04 * L, -dw), (L / 2, -0.4 * dw), (L / 2 - 0.02 * L, 0.5 * dw),
                         (0.08 * L, 0.6 * dw), (-0.1 * L, 1.95 * dw), (-0.42 * L, 1.75 * dw), (-L / 2, dw)]
        dk = (92 + int(rng.integers(-8, 8)),) * 3
        mesh.extend(prism(deck_poly, h, h + 0.012 * L, hull, top=dk))
        top = h + 0.012 * L
        line = (225, 225, 215)
        if spec.flight_deck == "angled":
            a = math.atan2(1.95 * dw - 0.5 * dw, -0.1 * L - (L / 2 - 0.25 * L))
            cx, cy = -0.12 * L, 1.05 * dw
            d = np.array([math.cos(a), math.sin(a)])
            nrm = np.array([-d[1], d[0]]) * 0.007 * L
            p0 = np.array([cx, cy]) + d * 0.28 * L
            p1 = np.array([cx, cy]) - d * 0.25 * L
            mesh.extend(plate([p0 + nrm, p1 + nrm, p1 - nrm, p0 - nrm], top + 0.05, 0.02, line))
        if spec.flight_deck == "full":
            mesh.extend(plate([(-L / 2 + 0.02 * L, -0.007 * L), (L / 2 - 0.06 * L, -0.007 * L),
                               (L / 2 - 0.06 * L, 0.007 * L), (-L / 2 + 0.02 * L, 0.007 * L)], top + 0.05, 0.02, line))
        for k in range(6):  # landing spots
            sx = -0.4 * L + k * 0.14 * L
            mesh.extend(plate([(sx, 0.25 * dw), (sx + 0.03 * L, 0.25 * dw), (sx + 0.03 * L, 0.45 * dw),
                               (sx, 0.45 * dw)], top + 0.05, 0.02, (200, 200, 190)))
        ix = -0.05 * L if spec.flight_deck == "angled" else 0.02 * L
        iy0 = -dw
        mesh.extend(box(ix - 0.07 * L, ix, iy0, iy0 + 0.045 * L, top, top + 0.07 * L, sup))
        mesh.extend(box(ix - 0.045 * L, ix - 0.03 * L, iy0 + 0.01 * L, iy0 + 0.025 * L, top + 0.07 * L,
                        top + 0.1 * L, (60, 62, 66)))
        if spec.funnels:
            mesh.extend(box(ix - 0.065 * L, ix - 0.05 * L, iy0 + 0.005 * L, iy0 + 0.035 * L, top + 0.07 * L,
                            top + 0.085 * L, (40, 40, 42)))
        # parked aircraft on deck (small grey crosses)
        for _ in range(int(rng.integers(2, 7))):
            px = float(rng.uniform(-0.4, 0.35)) * L
            py = float(rng.uniform(0.0, 0.6)) * dw
            s = 0.025 * L
            mesh.extend(plate([(px + s, py - 0.1 * s), (px + s, py + 0.1 * s), (px - s, py + 0.1 * s),
                               (px - s, py - 0.1 * s)], top + 0.1, 0.05, (150, 152, 155)))
            mesh.extend(plate([(px + 0.1 * s, py - 0.7 * s), (px + 0.1 * s, py + 0.7 * s), (px - 0.3 * s, py + 0.7 * s),
                               (px - 0.3 * s, py - 0.7 * s)], top + 0.1, 0.05, (150, 152, 155)))
        return mesh

    # superstructure
    sup_len = {"fore": 0.18, "mid": 0.2, "aft": 0.1, "full": 0.72, "none": 0.0}[spec.superstructure] * L
    sup_x = {"fore": 0.18, "mid": -0.02, "aft": -0.4, "full": -0.06, "none": 0.0}[spec.superstructure] * L
    if spec.family == "merchant" and spec.superstructure == "mid":
        sup_x = 0.08 * L
    tiers = 4 if spec.superstructure == "full" else (3 if spec.family == "merchant" else 2)
    tier_h = (0.035 if spec.family == "merchant" else 0.03) * L
    width = (0.92 if spec.family in ("merchant", "passenger") else 0.7) * B / 2
    z = top
    for t in range(tiers):
        shrink = 1 - 0.15 * t
        half = sup_len / 2 * shrink
        mesh.extend(box(sup_x - half, sup_x + half, -width * (1 - 0.08 * t), width * (1 - 0.08 * t), z,
                        z + tier_h, sup, top=tuple(max(0, c - 20) for c in sup)))
        z += tier_h
    bridge_top = z
    if spec.deck == "cabins":  # balconies stripes and lifeboats
        for k in range(tiers):
            zz = top + (k + 0.5) * tier_h
            for side in (1, -1):
                mesh.extend(fin([(sup_x - sup_len / 2 * 0.95, zz), (sup_x + sup_len / 2 * 0.9, zz),
                                 (sup_x + sup_len / 2 * 0.9, zz + 0.3 * tier_h), (sup_x - sup_len / 2 * 0.95, zz + 0.3 * tier_h)],
                                side * (width + 0.2), 0.1, (60, 80, 110)))
        for j in range(8):
            bx = sup_x - sup_len / 2 + (j + 0.5) * sup_len / 8
            for side in (1, -1):
                mesh.extend(box(bx - 0.015 * L, bx + 0.015 * L, side * width, side * (width + 0.012 * L),
                                top + tier_h, top + 1.5 * tier_h, (235, 150, 30)))
        mesh.extend(plate([(sup_x - 0.2 * L, -0.5 * width), (sup_x - 0.1 * L, -0.5 * width),
                           (sup_x - 0.1 * L, 0.5 * width), (sup_x - 0.2 * L, 0.5 * width)], bridge_top + 0.1, 0.1,
                          (60, 150, 200)))

    # funnels
    if spec.funnels:
        if spec.family == "warship":
            fxs = [sup_x - 0.06 * L, sup_x - 0.16 * L][: spec.funnels] if spec.funnels == 2 else [sup_x - 0.1 * L]
            if spec.superstructure == "fore":
                fxs = [sup_x - 0.16 * L]
            base = top
        elif spec.superstructure == "full":
            fxs, base = [sup_x - 0.28 * L], bridge_top
        else:
            fxs, base = [sup_x - (0.03 if spec.superstructure == "aft" else -0.0) * L], bridge_top - tier_h
            if spec.superstructure == "aft":
                fxs = [sup_x - 0.045 * L]
        for fx in fxs:
            fr = 0.022 * L
            mesh.extend(box(fx - fr, fx + fr, -0.6 * fr, 0.6 * fr, base, base + 0.065 * L, sup,
                            top=(30, 30, 32)))

    # warship fittings: helipad + hangar, guns
    if spec.flight_deck == "helipad":
        hx0, hx1 = -L / 2 + 0.01 * L, -L / 2 + 0.17 * L
        hw = B * 0.4
        mesh.extend(plate([(hx0, -hw), (hx1, -hw), (hx1, hw), (hx0, hw)], top + 0.1, 0.1, (150, 155, 150)))
        ang = np.linspace(0, 2 * math.pi, 12, endpoint=False)
        rr = 0.3 * min(hw, (hx1 - hx0) / 2)
        hc = (hx0 + hx1) / 2
        mesh.add(np.column_stack([hc + rr * np.cos(ang), rr * np.sin(ang), np.full(12, top + 0.3)]), (235, 235, 225))
        mesh.extend(box(hx1, hx1 + 0.08 * L, -0.7 * B / 2, 0.7 * B / 2, top, top + 0.045 * L, sup))
    if spec.guns:
        gxs = [L / 2 - 0.2 * L] + ([-L / 2 + 0.27 * L] if spec.guns >= 2 else [])
        for k, gx in enumerate(gxs):
            d = 1 if k == 0 else -1
            mesh.extend(box(gx - 0.025 * L, gx + 0.025 * L, -0.02 * L, 0.02 * L, top, top + 0.02 * L, sup))
            mesh.extend(box(min(gx, gx + d * 0.07 * L), max(gx, gx + d * 0.07 * L), -0.003 * L, 0.003 * L,
                            top + 0.01 * L, top + 0.015 * L, (70, 72, 75)))
        # vertical launch cells ahead of the bridge
        vx = sup_x + sup_len / 2 + 0.06 * L
        mesh.extend(plate([(vx - 0.04 * L, -0.25 * B), (vx + 0.04 * L, -0.25 * B), (vx + 0.04 * L, 0.25 * B),
                           (vx - 0.04 * L, 0.25 * B)], top + 0.1, 0.1, (85, 88, 92)))

    # deck cargo
    fwd_end = L / 2 - 0.08 * L
    aft_end = sup_x + sup_len / 2 + 0.02 * L if spec.superstructure == "aft" else -L / 2 + 0.06 * L
    if spec.deck == "containers":
        palette = [(180, 40, 35), (30, 80, 160), (40, 130, 70), (200, 160, 30), (120, 120, 125),
                   (220, 220, 220), (160, 90, 40), (20, 110, 130)]
        bays = 12
        skip = (sup_x - sup_len / 2 - 0.01 * L, sup_x + sup_len / 2 + 0.01 * L)
        bl = (fwd_end - 0.04 * L - aft_end) / bays
        for b in range(bays):
            x0 = aft_end + b * bl
            x1 = x0 + bl * 0.9
            if spec.superstructure == "mid" and x1 > skip[0] and x0 < skip[1]:
                continue
            wfrac = float(_hull_half_width(np.array([x1]), L, B, spec.bow)[0]) / (B / 2)
            if wfrac < 0.5:
                continue
            rows = 3
            for rrow in range(rows):
                y0 = -B / 2 * 0.9 * wfrac + rrow * (B * 0.9 * wfrac) / rows
                y1 = y0 + (B * 0.9 * wfrac) / rows * 0.95
                hh = float(rng.integers(1, 4)) * 0.012 * L
                c = palette[int(rng.integers(len(palette)))]
                mesh.extend(box(x0, x1, y0, y1, top, top + hh, c))
    elif spec.deck == "hatches":
        n = 6
        hl = (fwd_end - aft_end) / n
        for k in range(n):
            x0 = aft_end + k * hl + 0.15 * hl
            mesh.extend(box(x0, x0 + 0.7 * hl, -0.34 * B, 0.34 * B, top, top + 0.008 * L, (60, 62, 58)))
        for k in range(spec.masts):
            cx = aft_end + (k + 1) * hl
            mesh.extend(vertical_cylinder(cx, 0.0, 0.008 * L, top, top + 0.09 * L, (210, 180, 40), sides=6))
            mesh.extend(box(cx - 0.01 * L, cx + 0.005 * L, 0.0, 0.3 * B, top + 0.085 * L, top + 0.095 * L,
                            (210, 180, 40)))
    elif spec.deck == "tanks":
        n = 4
        tl = (fwd_end - aft_end) / n
        for k in range(n):
            cx = aft_end + (k + 0.5) * tl
            rr = min(0.44 * B, 0.46 * tl)
            mesh.extend(vertical_cylinder(cx, 0.0, rr, top - 0.4 * rr, top, (230, 225, 215), sides=12, dome=True))
    elif spec.deck == "pipes":
        for y in (-0.06 * B, 0.0, 0.06 * B):
            mesh.extend(plate([(aft_end, y - 0.005 * B), (fwd_end, y - 0.005 * B), (fwd_end, y + 0.005 * B),
                               (aft_end, y + 0.005 * B)], top + 0.3, 0.4, (175, 170, 160)))
        mid = (aft_end + fwd_end) / 2
        mesh.extend(box(mid - 0.015 * L, mid + 0.015 * L, -0.42 * B, 0.42 * B, top, top + 0.01 * L, (180, 175, 160)))
        mesh.extend(box(fwd_end - 0.03 * L, fwd_end, -0.12 * B, 0.12 * B, top, top + 0.025 * L, sup))
    # masts
    if spec.masts and spec.deck != "hatches" and spec.superstructure != "none":
        mx = sup_x + (0.0 if spec.family == "warship" else 0.01 * L)
        mh = (0.09 if spec.family == "warship" else 0.05) * L
        mesh.extend(box(mx - 0.004 * L, mx + 0.004 * L, -0.004 * L, 0.004 * L, bridge_top, bridge_top + mh,
                        (60, 62, 66)))
        mesh.extend(box(mx - 0.003 * L, mx + 0.003 * L, -0.25 * B, 0.25 * B, bridge_top + 0.7 * mh,
                        bridge_top + 0.72 * mh, (60, 62, 66)))
    return mesh


def build_mesh(spec: AircraftSpec | ShipSpec, rng: np.random.Generator, colors: dict) -> Mesh:
    """The mesh of one instance of ``spec``."""
    if isinstance(spec, AircraftSpec):
        return aircraft_mesh(spec, rng, colors)
    return ship_mesh(spec, rng, colors)


def shadow_mesh(mesh: Mesh, sun: np.ndarray, ground_z: float) -> Mesh:
    """Project every face onto the plane ``z = ground_z`` along the sun direction."""
    out = Mesh()
    for f in mesh.faces:
        t = (f[:, 2] - ground_z) / max(sun[2], 0.15)
        p = f - t[:, None] * sun[None, :]
        out.add(p, (0, 0, 0))
    return out


