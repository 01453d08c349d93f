"""Reader: a user's own XYZ tile folder ({z}/{x}/{y}.png|jpg, EPSG:3857) into a TileCorpus."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.clip.corpus import TileCorpus, make_corpus
from harness.clip.geo import tile_to_ne
from harness.errors import ClipError

_NAME = re.compile(r"^(\d+)/(\d+)/(\d+)\.(png|jpe?g)$", re.IGNORECASE)


def read_xyz_folder(
    folder: Path, origin: tuple[float, float, float], zoom: int | None = None
) -> TileCorpus:
    """All tiles of one zoom level (the deepest, unless given), footprints in the origin's frame."""
    folder = Path(folder)
    found = []
    for path in sorted(folder.rglob("*")):
        m = _NAME.match(path.relative_to(folder).as_posix())
        if m:
            found.append((int(m[1]), int(m[2]), int(m[3]), path))
    if not found:
        raise ClipError(
            f"{folder}: no {{z}}/{{x}}/{{y}}.png|jpg tiles found; point at the tile root"
        )
    zoom = max(f[0] for f in found) if zoom is None else zoom
    ids, feet, images = [], [], []
    for z, x, y, path in found:
        if z != zoom:
            continue
        try:
            img = np.asarray(Image.open(path).convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise ClipError(
                f"{path}: unreadable tile image ({exc}); re-download or delete it"
            ) from None
        if images and img.shape != images[0].shape:
            raise ClipError(f"{path}: tile is {img.shape[:2]}, others are {images[0].shape[:2]}")
        corners = tile_to_ne(
            z, np.array([x, x + 1, x + 1, x]), np.array([y, y, y + 1, y + 1]), origin
        )
        ids.append(f"{z}/{x}/{y}")
        feet.append(corners)
        images.append(img)
    feet = np.array(feet)
    size = float(np.linalg.norm(feet[0, 1] - feet[0, 0]))
    meta = {
        "zoom": zoom,
        "tile_px": images[0].shape[1],
        "crs": "EPSG:3857",
        "origin": list(origin),
        "source": str(folder),
    }
    return make_corpus("xyz", ids, feet, size, np.stack(images), meta)
