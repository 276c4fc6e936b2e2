"""Procedurally drawn images (coloured shapes on coloured backgrounds) so a synthesis run can
work fully offline without an image corpus. Deterministic: image i is the same on every machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "stripes")


def draw_shape(i: int, size: int = 64) -> Image.Image:
    """Image i: a shape (i mod 4) in a seeded colour on a seeded background."""
    rng = np.random.default_rng([7, i])
    background = tuple(int(v) for v in rng.integers(0, 256, 3))
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    lo, hi = sorted(int(v) for v in rng.integers(4, size - 4, 2))
    hi = max(hi, lo + size // 4)
    kind = SHAPES[i % len(SHAPES)]
    if kind == "circle":
        draw.ellipse((lo, lo, hi, hi), fill=colour)
    elif kind == "square":
        draw.rectangle((lo, lo, hi, hi), fill=colour)
    elif kind == "triangle":
        draw.polygon([(lo, hi), (hi, hi), ((lo + hi) // 2, lo)], fill=colour)
    else:
        for x in range(0, size, 8):
            draw.rectangle((x, 0, x + 3, size), fill=colour)
    return img


def write_shapes(out_dir: str | Path, n: int, size: int = 64) -> list[Path]:
    """Write images 0..n-1 as PNGs (skipping files already there); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = out / f"shape-{i:05d}.png"
        if not path.is_file():
            tmp = path.with_suffix(".tmp")
            draw_shape(i, size).save(tmp, format="PNG")
            tmp.replace(path)
        paths.append(path.resolve())
    return paths
