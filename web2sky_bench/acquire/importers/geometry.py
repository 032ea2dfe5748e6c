"""Box geometry for chip cropping: oriented boxes, padding, clipping, rotation.

Boxes are in source-image pixel coordinates. An axis-aligned box is
``(xmin, ymin, xmax, ymax)``; an oriented box is its four corners
``((x1, y1), ..., (x4, y4))`` in drawing order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

Box = tuple[float, float, float, float]
Quad = tuple[tuple[float, float], ...]


def rbox_to_quad(cx: float, cy: float, w: float, h: float, angle_rad: float) -> Quad:
    """Corners of a rotated rectangle: centre, size and angle in radians from +x towards +y.

    With image y pointing down a positive angle turns clockwise on screen: the
    convention of HRSC2016's ``mbox_ang`` and mmrotate's ``rbox2qbox``.
    """
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    half = ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    return tuple((cx + dx * c - dy * s, cy + dx * s + dy * c) for dx, dy in half)


def quad_bounds(quad: Quad) -> Box:
    """The axis-aligned bounds of a polygon."""
    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    return (min(xs), min(ys), max(xs), max(ys))


def clip_box(box: Box, width: int, height: int) -> Box:
    """Clip a box to the image ``[0, width] x [0, height]``."""
    x0, y0, x1, y1 = box
    return (max(0.0, min(x0, width)), max(0.0, min(y0, height)), max(0.0, min(x1, width)), max(0.0, min(y1, height)))


@dataclass(frozen=True)
class OrientedRect:
    """A rectangle by centre, long side ``w``, short side ``h`` and the long side's angle (degrees)."""

    cx: float
    cy: float
    w: float
    h: float
    angle_deg: float

    @classmethod
    def from_quad(cls, quad: Quad) -> OrientedRect:
        """Fit the rectangle of a 4-point polygon (its two edge lengths and the long edge's direction)."""
        p = [tuple(map(float, pt)) for pt in quad[:4]]
        cx = sum(x for x, _ in p) / 4
        cy = sum(y for _, y in p) / 4
        e1 = (p[1][0] - p[0][0], p[1][1] - p[0][1])
        e2 = (p[2][0] - p[1][0], p[2][1] - p[1][1])
        l1, l2 = math.hypot(*e1), math.hypot(*e2)
        long_edge, w, h = (e1, l1, l2) if l1 >= l2 else (e2, l2, l1)
        angle = math.degrees(math.atan2(long_edge[1], long_edge[0]))
        # a direction, not an orientation: fold into (-90, 90]
        if angle <= -90:
            angle += 180
        elif angle > 90:
            angle -= 180
        return cls(cx, cy, w, h, angle)

    def quad(self, pad_w: float = 0.0, pad_h: float = 0.0) -> Quad:
        """Corners, grown by ``pad_w``/``pad_h`` pixels on each side."""
        return rbox_to_quad(self.cx, self.cy, self.w + 2 * pad_w, self.h + 2 * pad_h, math.radians(self.angle_deg))


def padded_box(box: Box, padding: float) -> Box:
    """Grow a box by ``padding`` times its width (height) on the left and right (top and bottom)."""
    x0, y0, x1, y1 = box
    pw, ph = (x1 - x0) * padding, (y1 - y0) * padding
    return (x0 - pw, y0 - ph, x1 + pw, y1 + ph)


def crop_axis_aligned(image: Image.Image, box: Box) -> tuple[Image.Image, Box]:
    """Crop the integer pixel grid covering ``box`` clipped to the image; return the chip and its box."""
    x0, y0, x1, y1 = clip_box(box, *image.size)
    ix0, iy0 = math.floor(x0), math.floor(y0)
    ix1, iy1 = max(math.ceil(x1), ix0 + 1), max(math.ceil(y1), iy0 + 1)
    ix1, iy1 = min(ix1, image.size[0]), min(iy1, image.size[1])
    ix0, iy0 = min(ix0, ix1 - 1), min(iy0, iy1 - 1)
    return image.crop((ix0, iy0, ix1, iy1)), (float(ix0), float(iy0), float(ix1), float(iy1))


def crop_rotated(image: Image.Image, rect: OrientedRect, padding: float) -> tuple[Image.Image, Box]:
    """Cut the padded oriented rectangle out, rotated so its long side is horizontal.

    Returns the chip (pixels outside the source image are black) and the
    axis-aligned bounds of the cut region clipped to the source image.
    """
    pad_w, pad_h = rect.w * padding, rect.h * padding
    out_w = max(1, round(rect.w + 2 * pad_w))
    out_h = max(1, round(rect.h + 2 * pad_h))
    region = clip_box(quad_bounds(rect.quad(pad_w, pad_h)), *image.size)
    # a window around the centre large enough for any rotation of the output
    half = math.hypot(out_w, out_h) / 2 + 2
    win = (math.floor(rect.cx - half), math.floor(rect.cy - half), math.ceil(rect.cx + half), math.ceil(rect.cy + half))
    window = image.crop(win)  # PIL pads outside the image with zeros
    centre = (rect.cx - win[0], rect.cy - win[1])
    # PIL rotates counter-clockwise on screen for positive angles; the box's angle is
    # measured clockwise on screen (image y points down), so rotating by +angle levels it.
    levelled = window.rotate(rect.angle_deg, resample=Image.Resampling.BILINEAR, center=centre)
    left = round(centre[0] - out_w / 2)
    top = round(centre[1] - out_h / 2)
    chip = levelled.crop((left, top, left + out_w, top + out_h))
    return chip, region
