"""Compose full web-view and aerial-view images of one instance.

Web view: a side or oblique render at ``WEB_SIZE`` px with varied pose, scale,
lighting, livery, sky/sea/ground backgrounds and distractors. Aerial view: a
top-down render at an effective 24-64 px (drawn supersampled, then reduced),
random rotation, GSD-like blur and noise, cluttered tarmac/harbour/sea
backgrounds, shadows and partial occlusion, then resampled to the chip size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from web2sky_bench.synth.categories import AircraftSpec, ShipSpec
from web2sky_bench.synth.geometry import (
    draw_mesh,
    rot_x,
    rot_y,
    screen_bounds,
    view_matrix,
)
from web2sky_bench.synth.models3d import build_mesh, livery, shadow_mesh

WEB_SIZE = 224
CHIP_SIZE = 64
EFFECTIVE_PX = (24, 64)


@dataclass
class Rendered:
    """One rendered image with what the caption needs to know about it."""

    image: Image.Image
    context: str
    livery: str
    gsd_m: float | None = None


def _sun(rng: np.random.Generator, elev=(30, 70)) -> np.ndarray:
    az = rng.uniform(0, 2 * math.pi)
    el = math.radians(rng.uniform(*elev))
    return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


def _noise(rng: np.random.Generator, h: int, w: int, cells: int, amp: float) -> np.ndarray:
    """Smooth value noise (h, w) in about [-amp, amp]."""
    small = rng.normal(0, amp, size=(cells, cells)).astype(np.float32)
    img = Image.fromarray(small, mode="F").resize((w, h), Image.BILINEAR)
    return np.asarray(img)


def _gradient(h: int, w: int, top, bottom) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    arr = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)
    return np.broadcast_to(arr, (h, w, 3)).copy()


def _to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _clouds(rng: np.random.Generator, img: Image.Image, count: int, tint=(250, 250, 252), alpha=200) -> Image.Image:
    w, h = img.size
    small = Image.new("L", (w // 4, h // 4), 0)
    d = ImageDraw.Draw(small)
    for _ in range(count):
        cx, cy = rng.uniform(-5, w // 4 + 5), rng.uniform(-5, h // 4 * 0.8)
        for _ in range(int(rng.integers(2, 6))):
            rx, ry = rng.uniform(3, 12), rng.uniform(2, 5)
            ox, oy = rng.normal(0, 5), rng.normal(0, 1.5)
            d.ellipse([cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry], fill=int(rng.uniform(90, alpha)))
    mask = small.filter(ImageFilter.BoxBlur(1)).resize((w, h), Image.BILINEAR)
    return Image.composite(Image.new("RGB", (w, h), tint), img, mask)


# --- web view ------------------------------------------------------------------------------

_SKIES = [((70, 120, 200), (170, 205, 235)), ((110, 140, 180), (200, 210, 220)), ((150, 155, 165), (205, 205, 210)),
          ((60, 80, 140), (240, 170, 110)), ((90, 150, 215), (215, 230, 245))]
_SEAS = [((40, 80, 120), (20, 50, 85)), ((50, 95, 110), (25, 60, 70)), ((90, 105, 120), (55, 70, 85)),
         ((30, 70, 130), (15, 40, 90))]


def _three_quarter_yaw(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A yaw turned ``lo``-``hi`` radians away from the pure side view, either way, nose left or right."""
    turn = rng.uniform(lo, hi) * (1 if rng.random() < 0.5 else -1)
    return turn + (math.pi if rng.random() < 0.5 else 0.0)


def render_web(spec: AircraftSpec | ShipSpec, rng: np.random.Generator, size: int = WEB_SIZE) -> Rendered:
    """A side/oblique photo-like render of one instance of ``spec``."""
    colors = livery(spec, rng)
    mesh = build_mesh(spec, rng, colors)
    sun = _sun(rng, (25, 75))
    ambient = float(rng.uniform(0.35, 0.6))
    sky = _SKIES[int(rng.integers(len(_SKIES)))]
    ship = isinstance(spec, ShipSpec)
    if ship:
        horizon = int(size * rng.uniform(0.3, 0.5))
        sky_img = _clouds(rng, _to_image(_gradient(size, size, sky[0], sky[1])), int(rng.integers(0, 5)))
        arr = np.asarray(sky_img, np.float32).copy()
        sea = _SEAS[int(rng.integers(len(_SEAS)))]
        arr[horizon:] = _gradient(size - horizon, size, sea[0], sea[1])
        arr[horizon:] += _noise(rng, size - horizon, size, 40, 8)[..., None]
        img = _to_image(arr)
        d = ImageDraw.Draw(img)
        if rng.random() < 0.5:  # coastline
            pts = [(0, horizon)]
            for x in np.linspace(0, size, 8):
                pts.append((float(x), horizon - float(rng.uniform(0, 18))))
            pts.append((size, horizon))
            d.polygon(pts, fill=tuple(int(v) for v in rng.integers(70, 120, size=3)))
        for _ in range(int(rng.integers(0, 4))):  # distant boats
            bx, bw = rng.uniform(0, size), rng.uniform(4, 14)
            by = horizon + rng.uniform(1, 8)
            d.rectangle([bx, by - bw / 4, bx + bw, by], fill=tuple(int(v) for v in rng.integers(60, 200, size=3)))
        for _ in range(int(rng.integers(10, 40))):  # wave glints
            wx, wy = rng.uniform(0, size), rng.uniform(horizon + 3, size)
            wl = rng.uniform(2, 10) * (wy - horizon) / size * 2
            d.line([wx, wy, wx + wl, wy], fill=tuple(int(v) for v in np.clip(np.array(sea[0]) + 50, 0, 255)))
        yaw = _three_quarter_yaw(rng, 0.25, 0.85)
        view = view_matrix(yaw, math.radians(rng.uniform(12, 38)))
        frac = rng.uniform(0.78, 0.98)
        context = str(rng.choice(["at sea", "sailing on the ocean", "on the water"]))
    else:
        grounded = rng.random() < 0.3
        arr = _gradient(size, size, sky[0], sky[1])
        if grounded:
            horizon = int(size * rng.uniform(0.45, 0.65))
            ground = (rng.integers(90, 150), rng.integers(95, 150), rng.integers(85, 130))
            arr[horizon:] = np.asarray(ground, np.float32) + _noise(rng, size - horizon, size, 30, 10)[..., None]
        img = _clouds(rng, _to_image(arr), int(rng.integers(0, 7)))
        d = ImageDraw.Draw(img)
        if grounded:
            for _ in range(int(rng.integers(1, 5))):  # buildings on the horizon
                bx, bw, bh = rng.uniform(0, size), rng.uniform(10, 50), rng.uniform(5, 25)
                d.rectangle([bx, horizon - bh, bx + bw, horizon], fill=tuple(int(v) for v in rng.integers(80, 170, size=3)))
            d.line([0, horizon + 12, size, horizon + 12], fill=(200, 200, 190), width=1)
            elev = math.radians(rng.uniform(8, 28))
            context = str(rng.choice(["on the runway", "at an airfield", "taxiing at an airport"]))
        else:
            elev = math.radians(rng.uniform(12, 35)) * (1 if rng.random() < 0.5 else -1)
            mesh = mesh.transformed(rot_x(math.radians(rng.normal(0, 8))) @ rot_y(math.radians(rng.normal(0, 5))))
            context = str(rng.choice(["flying in the sky", "in flight", "flying above the clouds"]))
        for _ in range(int(rng.integers(0, 4))):  # birds
            bx, by, s = rng.uniform(0, size), rng.uniform(0, size * 0.5), rng.uniform(2, 4)
            d.line([bx - s, by - s / 2, bx, by, bx + s, by - s / 2], fill=(40, 40, 45), width=1)
        yaw = _three_quarter_yaw(rng, 0.3, 1.0)
        view = view_matrix(yaw, elev)
        frac = rng.uniform(0.72, 0.97)
    x0, y0, x1, y1 = screen_bounds(mesh, view)
    scale = frac * size / max(x1 - x0, (y1 - y0) * 1.1)
    w_px, h_px = (x1 - x0) * scale, (y1 - y0) * scale
    cx = rng.uniform(w_px / 2 + 2, size - w_px / 2 - 2) if w_px < size - 4 else size / 2
    if ship:
        base_y = horizon + rng.uniform(0.25, 0.7) * (size - horizon)
        base_y = min(base_y, size - 2)
        cy = base_y + y0 * scale  # z = 0 -> waterline near base_y
        cy = min(cy, size - 2 + y0 * scale)
    elif grounded:
        cy = horizon + rng.uniform(0.3, 0.8) * (size - horizon) + y0 * scale
    else:
        cy = rng.uniform(h_px / 2 + 2, size - h_px / 2 - 2) if h_px < size - 4 else size / 2
    center = (cx - (x0 + x1) / 2 * scale, cy if ship or grounded else cy + (y0 + y1) / 2 * scale)
    draw_mesh(d, mesh, view, scale, center, sun, ambient=ambient)
    arr = np.asarray(img, np.float32)
    gain = rng.uniform(0.85, 1.15)
    arr = (arr - 128) * rng.uniform(0.85, 1.1) + 128 * gain
    arr += rng.normal(0, rng.uniform(1, 4), size=arr.shape[:2])[..., None]
    return Rendered(_to_image(arr), context, colors["phrase"])


# --- aerial view ---------------------------------------------------------------------------


def _tarmac(rng: np.random.Generator, n: int, px_per_m: float) -> tuple[Image.Image, str]:
    base = np.array([rng.uniform(95, 175)] * 3) + rng.normal(0, 6, 3)
    arr = np.broadcast_to(base.astype(np.float32), (n, n, 3)).copy()
    arr += _noise(rng, n, n, 12, 7)[..., None] + rng.normal(0, 4, size=(n, n))[..., None]
    img = _to_image(arr)
    d = ImageDraw.Draw(img)
    if rng.random() < 0.35:  # grass strip
        gx = rng.uniform(0, n)
        d.rectangle([gx, 0, gx + rng.uniform(0.1, 0.4) * n, n], fill=(int(rng.uniform(70, 110)), int(rng.uniform(95, 130)), 60))
    slab = 7.5 * px_per_m
    if slab > 3:  # concrete slab joints
        off = rng.uniform(0, slab)
        joint = tuple(int(c - 12) for c in base)
        for k in range(int(n / slab) + 2):
            d.line([off + k * slab, 0, off + k * slab, n], fill=joint)
            d.line([0, off + k * slab, n, off + k * slab], fill=joint)
    for _ in range(int(rng.integers(0, 3))):  # painted taxi lines
        color = (220, 190, 40) if rng.random() < 0.6 else (225, 225, 225)
        a = rng.uniform(0, math.pi)
        cx, cy = rng.uniform(0, n), rng.uniform(0, n)
        dx, dy = math.cos(a) * n, math.sin(a) * n
        d.line([cx - dx, cy - dy, cx + dx, cy + dy], fill=color, width=max(1, int(0.4 * px_per_m)))
    for _ in range(int(rng.integers(0, 6))):  # vehicles
        vx, vy = rng.uniform(0, n), rng.uniform(0, n)
        vw, vh = 2.5 * px_per_m, 6 * px_per_m
        if rng.random() < 0.5:
            vw, vh = vh, vw
        grey = rng.uniform(40, 220)
        d.rectangle([vx, vy, vx + vw, vy + vh], fill=tuple(int(grey + v) for v in rng.normal(0, 12, size=3)))
    if rng.random() < 0.3:  # a building roof at the edge
        side = int(rng.integers(4))
        depth = rng.uniform(0.08, 0.22) * n
        box = [(0, 0, depth, n), (0, 0, n, depth), (n - depth, 0, n, n), (0, n - depth, n, n)][side]
        d.rectangle(box, fill=tuple(int(v) for v in rng.integers(90, 200, size=3)))
    return img, str(rng.choice(["parked on the tarmac", "at an airport apron", "on an airfield"]))


def _sea(rng: np.random.Generator, n: int, px_per_m: float) -> tuple[Image.Image, str, bool]:
    sea = np.array(_SEAS[int(rng.integers(len(_SEAS)))][1], np.float32) + rng.normal(0, 8, 3)
    arr = np.broadcast_to(sea, (n, n, 3)).copy()
    arr += _noise(rng, n, n, 10, 6)[..., None] + rng.normal(0, 3, size=(n, n))[..., None]
    img = _to_image(arr)
    d = ImageDraw.Draw(img)
    harbour = rng.random() < 0.4
    if harbour:
        side = int(rng.integers(4))
        depth = rng.uniform(0.1, 0.25) * n
        box = [(0, 0, depth, n), (0, 0, n, depth), (n - depth, 0, n, n), (0, n - depth, n, n)][side]
        grey = int(rng.uniform(120, 190))
        d.rectangle(box, fill=(grey, grey, grey - 5))
        for _ in range(int(rng.integers(2, 8))):  # containers / sheds on the quay
            bx, by = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
            s = rng.uniform(3, 15) * px_per_m
            d.rectangle([bx, by, bx + s, by + s / 2.5], fill=tuple(int(v) for v in rng.integers(40, 230, size=3)))
    for _ in range(int(rng.integers(0, 5))):  # small boats
        bx, by = rng.uniform(0, n), rng.uniform(0, n)
        s = rng.uniform(5, 20) * px_per_m
        a = rng.uniform(0, math.pi)
        d.line([bx, by, bx + s * math.cos(a), by + s * math.sin(a)], fill=(230, 230, 230), width=max(1, int(s / 4)))
    context = "in a harbour" if harbour else str(rng.choice(["at sea", "on the water"]))
    return img, context, harbour


def render_aerial(spec: AircraftSpec | ShipSpec, rng: np.random.Generator, chip: int = CHIP_SIZE,
                  effective: tuple[int, int] = EFFECTIVE_PX) -> Rendered:
    """A low-resolution top-down chip of one instance of ``spec``."""
    colors = livery(spec, rng)
    mesh = build_mesh(spec, rng, colors)
    ship = isinstance(spec, ShipSpec)
    eff = round(effective[0] + (effective[1] - effective[0]) * rng.random() ** 1.5)  # small chips are common
    ss = max(2, math.ceil(112 / eff))
    n = eff * ss
    yaw = rng.uniform(0, 2 * math.pi)
    view = view_matrix(yaw, math.radians(rng.uniform(78, 90)))
    x0, y0, x1, y1 = screen_bounds(mesh, view)
    extent_obj = max(x1 - x0, y1 - y0)
    extent_m = extent_obj / rng.uniform(0.38, 0.72)
    px_per_m = n / extent_m
    if ship:
        bg, context, _ = _sea(rng, n, px_per_m)
    else:
        bg, context = _tarmac(rng, n, px_per_m)
    cx = n / 2 + rng.uniform(-0.08, 0.08) * n - (x0 + x1) / 2 * px_per_m
    cy = n / 2 + rng.uniform(-0.08, 0.08) * n + (y0 + y1) / 2 * px_per_m
    sun = _sun(rng, (35, 70))
    d = ImageDraw.Draw(bg)
    if ship and rng.random() < 0.6:  # wake behind the stern
        wake = Image.new("L", (n, n), 0)
        wd = ImageDraw.Draw(wake)
        length = spec.length * rng.uniform(0.6, 2.0)
        stern = np.array([-spec.length / 2, 0.0, 0.0])
        pts = [stern, stern + [-length, length * 0.25, 0], stern + [-length, -length * 0.25, 0]]
        proj = [(cx + p @ view[0] * px_per_m, cy - p @ view[1] * px_per_m) for p in pts]
        wd.polygon(proj, fill=int(rng.uniform(60, 140)))
        bg = Image.composite(Image.new("RGB", (n, n), (225, 230, 230)), bg, wake.filter(ImageFilter.BoxBlur(ss)))
        d = ImageDraw.Draw(bg)
    # shadow
    lo = min(float(f[:, 2].min()) for f in mesh.faces)
    ground = 0.0 if ship else lo - 0.12 * spec.length * rng.uniform(0.6, 1.0) * 0.3
    mask = Image.new("L", (n, n), 0)
    draw_mesh(ImageDraw.Draw(mask), shadow_mesh(mesh, sun, ground), view, px_per_m, (cx, cy), sun, flat=255)
    dark = float(rng.uniform(0.35, 0.6)) * (0.6 if ship else 1.0)
    shaded = _to_image(np.asarray(bg, np.float32) * (1 - dark))
    bg = Image.composite(shaded, bg, mask)
    d = ImageDraw.Draw(bg)
    draw_mesh(d, mesh, view, px_per_m, (cx, cy), sun, ambient=float(rng.uniform(0.4, 0.6)))
    if rng.random() < 0.25:  # partial occlusion by a cloud
        bg = _clouds(rng, bg, 1, tint=(235, 236, 238), alpha=230)
    small = bg.resize((eff, eff), Image.BOX)
    small = small.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.45, 1.25))))
    arr = np.asarray(small, np.float32)
    level = arr.mean()
    arr = (arr - level) * rng.uniform(0.55, 0.95) + level * rng.uniform(0.85, 1.1)  # hazy, low contrast
    arr += rng.normal(0, rng.uniform(3, 11), size=arr.shape)
    out = _to_image(arr).resize((chip, chip), Image.BILINEAR)
    return Rendered(out, context, colors["phrase"], gsd_m=float(extent_m / eff))


def render(spec: AircraftSpec | ShipSpec, view: str, rng: np.random.Generator, **kw) -> Rendered:
    """Render one instance in ``view`` (``web`` or ``aerial``)."""
    return render_web(spec, rng, **kw) if view == "web" else render_aerial(spec, rng, **kw)


