"""A tiny flat-shaded 3D polygon renderer (orthographic, painter's algorithm) on PIL.

A :class:`Mesh` is a list of coloured planar faces in world coordinates
(x forward, y to port, z up, metres). :func:`view_matrix` turns a yaw and a
camera elevation into a rotation (elevation 90 deg is the top-down aerial
view); :func:`draw_mesh` projects, shades and paints the faces far-to-near.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import ImageDraw

Color = tuple[int, int, int]


@dataclass
class Mesh:
    """Planar faces: ``faces[i]`` is a (k, 3) vertex array, ``colors[i]`` its RGB."""

    faces: list[np.ndarray] = field(default_factory=list)
    colors: list[Color] = field(default_factory=list)

    def add(self, verts, color: Color) -> None:
        """Append one planar polygon."""
        self.faces.append(np.asarray(verts, dtype=np.float64))
        self.colors.append(tuple(int(c) for c in color))

    def extend(self, other: Mesh) -> None:
        """Append every face of ``other``."""
        self.faces += other.faces
        self.colors += other.colors

    def transformed(self, matrix: np.ndarray, offset=(0.0, 0.0, 0.0)) -> Mesh:
        """A copy with every vertex mapped by ``matrix @ v + offset``."""
        off = np.asarray(offset, dtype=np.float64)
        return Mesh([f @ matrix.T + off for f in self.faces], list(self.colors))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(min xyz, max xyz) over all vertices."""
        allv = np.concatenate(self.faces)
        return allv.min(0), allv.max(0)


def rot_z(angle: float) -> np.ndarray:
    """Rotation about the vertical axis (radians)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


def rot_y(angle: float) -> np.ndarray:
    """Rotation about the y axis (pitch, radians)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def rot_x(angle: float) -> np.ndarray:
    """Rotation about the x axis (roll, radians)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


_SIDE = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=np.float64)  # world -> (screen x, up, depth)


def view_matrix(yaw: float, elevation: float) -> np.ndarray:
    """World -> view rotation: rows are screen-right, screen-up, towards-camera.

    ``yaw`` turns the object about z; ``elevation`` (radians) raises the camera
    from the side view (0) to the top-down view (pi/2).
    """
    c, s = math.cos(elevation), math.sin(elevation)
    pitch = np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)
    return pitch @ _SIDE @ rot_z(yaw)


# --- primitives -----------------------------------------------------------------------


def tube(stations, color: Color, sides: int = 8, belly: Color | None = None, caps: bool = True) -> Mesh:
    """A tube along x: ``stations`` rows are (x, half_width, half_height, centre_z).

    Faces whose outward normal points down get ``belly`` (two-tone liveries).
    """
    st = np.asarray(stations, dtype=np.float64)
    ang = np.linspace(0, 2 * math.pi, sides, endpoint=False) + math.pi / sides
    rings = []
    for x, ry, rz, cz in st:
        rings.append(np.stack([np.full(sides, x), ry * np.cos(ang), cz + rz * np.sin(ang)], 1))
    mesh = Mesh()
    for a, b in itertools.pairwise(rings):
        for j in range(sides):
            k = (j + 1) % sides
            quad = [a[j], b[j], b[k], a[k]]
            down = math.sin((ang[j] + ang[k]) / 2) < -0.2
            mesh.add(quad, belly if (belly is not None and down) else color)
    if caps:
        for ring, (_, ry, rz, _) in ((rings[0], *st[:1]), (rings[-1], *st[-1:])):
            if ry > 1e-6 and rz > 1e-6:
                mesh.add(ring, color)
    return mesh


def plate(outline_xy, z: float, thickness: float, color: Color, under: Color | None = None) -> Mesh:
    """A horizontal slab with polygon ``outline_xy`` (k, 2) centred at height ``z``."""
    xy = np.asarray(outline_xy, dtype=np.float64)
    top = np.column_stack([xy, np.full(len(xy), z + thickness / 2)])
    bot = np.column_stack([xy, np.full(len(xy), z - thickness / 2)])
    mesh = Mesh()
    mesh.add(bot, under or color)
    for i in range(len(xy)):
        j = (i + 1) % len(xy)
        mesh.add([bot[i], bot[j], top[j], top[i]], color)
    mesh.add(top, color)
    return mesh


def fin(outline_xz, y: float, thickness: float, color: Color) -> Mesh:
    """A vertical slab with polygon ``outline_xz`` (k, 2) in the x-z plane at ``y``."""
    xz = np.asarray(outline_xz, dtype=np.float64)
    a = np.column_stack([xz[:, 0], np.full(len(xz), y - thickness / 2), xz[:, 1]])
    b = np.column_stack([xz[:, 0], np.full(len(xz), y + thickness / 2), xz[:, 1]])
    mesh = Mesh()
    mesh.add(a, color)
    for i in range(len(xz)):
        j = (i + 1) % len(xz)
        mesh.add([a[i], a[j], b[j], b[i]], color)
    mesh.add(b, color)
    return mesh


def box(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, color: Color,
        top: Color | None = None) -> Mesh:
    """An axis-aligned box; ``top`` colours its upper face."""
    mesh = Mesh()
    mesh.add([(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)], color)
    mesh.add([(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)], color)
    mesh.add([(x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1)], color)
    mesh.add([(x0, y0, z0), (x0, y1, z0), (x0, y1, z1), (x0, y0, z1)], color)
    mesh.add([(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)], color)
    mesh.add([(x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1)], top or color)
    return mesh


def prism(outline_xy, z0: float, z1: float, color: Color, top: Color | None = None) -> Mesh:
    """A vertical extrusion of polygon ``outline_xy`` from ``z0`` to ``z1``."""
    xy = np.asarray(outline_xy, dtype=np.float64)
    lo = np.column_stack([xy, np.full(len(xy), z0)])
    hi = np.column_stack([xy, np.full(len(xy), z1)])
    mesh = Mesh()
    for i in range(len(xy)):
        j = (i + 1) % len(xy)
        mesh.add([lo[i], lo[j], hi[j], hi[i]], color)
    mesh.add(hi, top or color)
    return mesh


def vertical_cylinder(x: float, y: float, r: float, z0: float, z1: float, color: Color,
                      sides: int = 10, dome: bool = False) -> Mesh:
    """A vertical cylinder (optionally a dome: a sphere-like stack of rings)."""
    ang = np.linspace(0, 2 * math.pi, sides, endpoint=False)
    if dome:
        phis = np.linspace(-math.pi / 2.5, math.pi / 2, 5)
        rings = [np.column_stack([x + r * math.cos(p) * np.cos(ang), y + r * math.cos(p) * np.sin(ang),
                                  np.full(sides, z0 + r + r * math.sin(p))]) for p in phis]
    else:
        rings = [np.column_stack([x + r * np.cos(ang), y + r * np.sin(ang), np.full(sides, z)]) for z in (z0, z1)]
    mesh = Mesh()
    for a, b in itertools.pairwise(rings):
        for j in range(sides):
            k = (j + 1) % sides
            mesh.add([a[j], a[k], b[k], b[j]], color)
    if not dome:
        mesh.add(rings[-1], color)
    return mesh


# --- rendering -------------------------------------------------------------------------


def screen_bounds(mesh: Mesh, view: np.ndarray) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of the projected mesh in view units (y up)."""
    allv = np.concatenate(mesh.faces) @ view.T
    return float(allv[:, 0].min()), float(allv[:, 1].min()), float(allv[:, 0].max()), float(allv[:, 1].max())


def draw_mesh(draw: ImageDraw.ImageDraw, mesh: Mesh, view: np.ndarray, scale: float,
              center: tuple[float, float], light: np.ndarray, ambient: float = 0.45,
              flat: Color | None = None) -> None:
    """Shade and paint ``mesh`` far-to-near; ``flat`` paints every face one colour (shadows).

    ``light`` is a unit vector in world coordinates pointing towards the sun.
    Projection, normals, depths and shades are computed for all faces at once.
    """
    if not mesh.faces:
        return
    counts = np.fromiter((len(f) for f in mesh.faces), dtype=np.int64, count=len(mesh.faces))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    verts = np.concatenate(mesh.faces) @ view.T
    v0, v1, v2 = verts[starts], verts[starts + 1], verts[starts + 2]
    normal = np.cross(v1 - v0, v2 - v0)
    length = np.linalg.norm(normal, axis=1)
    weak = length < 1e-12
    if weak.any():
        alt = np.cross(v2 - v0, verts[starts + counts - 1] - v0)
        normal[weak] = alt[weak]
        length[weak] = np.linalg.norm(alt[weak], axis=1)
    keep = length > 1e-12
    normal = normal / np.where(keep, length, 1.0)[:, None]
    normal *= np.where(normal[:, 2] < 0, -1.0, 1.0)[:, None]
    depth = np.add.reduceat(verts[:, 2], starts) / counts
    if flat is None:
        shade = ambient + (1 - ambient) * np.maximum(0.0, normal @ (view @ light))
        fills = np.minimum(255, (np.asarray(mesh.colors, dtype=np.float64) * shade[:, None]).astype(np.int64)).tolist()
    cx, cy = center
    xy = np.column_stack([cx + verts[:, 0] * scale, cy - verts[:, 1] * scale]).tolist()
    starts_l, counts_l = starts.tolist(), counts.tolist()
    for i in np.argsort(depth, kind="stable").tolist():
        if not keep[i]:
            continue
        s = starts_l[i]
        pts = [tuple(p) for p in xy[s:s + counts_l[i]]]
        draw.polygon(pts, fill=flat if flat is not None else tuple(fills[i]))
