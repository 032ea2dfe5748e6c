"""A contact sheet: one row per synthetic category, web samples then aerial samples."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, ImageDraw
from tqdm import tqdm

from web2sky_bench.io.atomic import atomic_path
from web2sky_bench.synth.categories import CATEGORIES
from web2sky_bench.synth.dataset import image_rng
from web2sky_bench.synth.render import render

LABEL_W = 190
CELL = 128


def make_preview(out: str | os.PathLike[str], seed: int = 0, per_view: int = 3, quiet: bool = False) -> Path:
    """Render ``per_view`` web and aerial samples of every category into one PNG at ``out``.

    Web renders are shown at 128 px; aerial chips are enlarged with nearest
    neighbour so their real resolution stays visible.
    """
    out = Path(out)
    width = LABEL_W + 2 * per_view * CELL + 8
    sheet = Image.new("RGB", (width, CELL * len(CATEGORIES) + 24), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    draw.text((LABEL_W, 6), "web view", fill=(0, 0, 0))
    draw.text((LABEL_W + per_view * CELL + 8, 6), "aerial view (chip, nearest-neighbour x2)", fill=(0, 0, 0))
    for row, spec in enumerate(tqdm(CATEGORIES, desc="preview", disable=quiet)):
        y = 24 + row * CELL
        draw.text((6, y + CELL // 2 - 14), spec.id, fill=(0, 0, 0))
        draw.text((6, y + CELL // 2 + 2), spec.display_name, fill=(90, 90, 90))
        for j in range(per_view):
            web = render(spec, "web", image_rng(seed, "bench", row, "web", j)).image
            sheet.paste(web.resize((CELL, CELL), Image.LANCZOS), (LABEL_W + j * CELL, y))
            chip = render(spec, "aerial", image_rng(seed, "bench", row, "aerial", j)).image
            sheet.paste(chip.resize((CELL, CELL), Image.NEAREST), (LABEL_W + per_view * CELL + 8 + j * CELL, y))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG", optimize=True)
    return out
