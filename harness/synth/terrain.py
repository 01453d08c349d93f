"""The procedural orthophoto: farmland strips, tracks, windbreaks, roads, a river and a village.

Deterministic from a seed, north-up at `gsd_m` metres per pixel. Fields reuse a small palette of
crop textures on purpose, so distant places look alike (aliasing) while the road network, river
and village make places tellable apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

_PALETTE = np.array(
    [
        [176, 160, 96],  # ripe wheat
        [98, 128, 58],  # young green crop
        [84, 68, 52],  # ploughed black soil
        [140, 150, 70],  # sunflower
        [186, 170, 130],  # stubble
        [120, 140, 90],  # fallow grass
        [70, 96, 48],  # maize
        [150, 120, 86],  # harrowed soil
    ],
    dtype=np.float32,
)
_TRACK = np.array([160, 140, 110], np.float32)
_ROAD = np.array([96, 96, 100], np.float32)
_TREE = np.array([44, 66, 36], np.float32)
_WATER = np.array([40, 62, 70], np.float32)
_ROOFS = np.array([[150, 60, 50], [120, 120, 125], [110, 80, 60], [170, 170, 165]], np.float32)


@dataclass(frozen=True)
class Ortho:
    """A north-up image; pixel (row, col) centre: north = n_max - (row + .5) * gsd,
    east = e_min + (col + .5) * gsd."""

    image: np.ndarray  # (H, W, 3) uint8
    n_max_m: float
    e_min_m: float
    gsd_m: float

    def rc(self, ne: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (row, col) of [north_m, east_m] points, pixel centres at integers."""
        return (self.n_max_m - ne[..., 0]) / self.gsd_m - 0.5, (
            ne[..., 1] - self.e_min_m
        ) / self.gsd_m - 0.5

    @cached_property
    def packed(self) -> np.ndarray:
        """The image as one uint32 per pixel (R | G << 8 | B << 16), flat: one gather per corner."""
        img = self.image.astype(np.uint32)
        return (img[..., 0] | (img[..., 1] << 8) | (img[..., 2] << 16)).ravel()

    def halved(self) -> Ortho:
        """The next pyramid level: 2x2 box filter, twice the ground sample distance."""
        h, w = (self.image.shape[0] // 2) * 2, (self.image.shape[1] // 2) * 2
        img = self.image[:h, :w].astype(np.uint16)
        img = (img[0::2, 0::2] + img[1::2, 0::2] + img[0::2, 1::2] + img[1::2, 1::2] + 2) // 4
        return Ortho(img.astype(np.uint8), self.n_max_m, self.e_min_m, self.gsd_m * 2)


def _noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: int) -> np.ndarray:
    """Smooth value noise in [-1, 1] with features about `cell_px` pixels across."""
    small = rng.uniform(-1, 1, (shape[0] // cell_px + 2, shape[1] // cell_px + 2)).astype(
        np.float32
    )
    big = Image.fromarray(small, mode="F").resize(
        ((small.shape[1]) * cell_px, (small.shape[0]) * cell_px), Image.Resampling.BICUBIC
    )
    return np.asarray(big)[: shape[0], : shape[1]]


def make_ortho(
    seed: int, n_range_m: tuple[float, float], e_range_m: tuple[float, float], gsd_m: float
) -> Ortho:
    rng = np.random.default_rng([seed, 4])
    h = int(np.ceil((n_range_m[1] - n_range_m[0]) / gsd_m))
    w = int(np.ceil((e_range_m[1] - e_range_m[0]) / gsd_m))
    ortho = Ortho(np.empty((h, w, 3), np.uint8), n_range_m[1], e_range_m[0], gsd_m)
    px_per_m = 1 / gsd_m
    noise = 0.55 * _noise(rng, (h, w), int(60 * px_per_m)) + 0.3 * _noise(
        rng, (h, w), int(12 * px_per_m)
    )
    noise += 0.15 * _noise(rng, (h, w), max(2, int(2 * px_per_m)))
    layout = _Layout(rng, n_range_m, e_range_m)
    for r0 in range(0, h, 256):
        rows = np.arange(r0, min(h, r0 + 256), dtype=np.float32)
        n = (ortho.n_max_m - (rows + 0.5) * gsd_m)[:, None]
        e = (ortho.e_min_m + (np.arange(w, dtype=np.float32) + 0.5) * gsd_m)[None, :]
        ortho.image[r0 : r0 + len(rows)] = layout.paint(n, e, noise[r0 : r0 + len(rows)])
    layout.draw_village(ortho, rng)
    _draw_copses(ortho, rng)
    return ortho


class _Layout:
    """Random but fixed geometry: the field grid, its roads and windbreaks, the river."""

    def __init__(
        self, rng: np.random.Generator, n_range: tuple[float, float], e_range: tuple[float, float]
    ) -> None:
        self.angle = rng.uniform(-0.5, 0.5)
        span = 2 * max(abs(v) for v in (*n_range, *e_range)) + 2000
        widths = rng.uniform(160, 450, int(span / 160) + 2)
        self.u_edges = (np.cumsum(widths) - span).astype(np.float32)
        cols = len(self.u_edges) + 1
        self.v_height = rng.uniform(120, 380, cols).astype(np.float32)
        self.v_offset = rng.uniform(0, 450, cols).astype(np.float32)
        self.edge_kind = rng.choice(
            4, size=cols + 1, p=[0.4, 0.35, 0.15, 0.1]
        )  # track, trees, road, none
        self.field_params = rng.integers(0, 1 << 30, 4096)
        self.stripe_period = rng.uniform(3.0, 9.0, len(_PALETTE)).astype(np.float32)
        self.river = (
            rng.uniform(*n_range) * 0.5,
            rng.uniform(80, 160),
            rng.uniform(700, 1400),
            rng.uniform(0, 6.3),
        )
        self.main_road = (rng.uniform(*e_range) * 0.5, rng.uniform(-0.4, 0.4))
        self.village = (rng.uniform(*n_range) * 0.6, self.main_road[0] + rng.uniform(-80, 80))

    def paint(self, n: np.ndarray, e: np.ndarray, noise: np.ndarray) -> np.ndarray:
        ca, sa = np.float32(np.cos(self.angle)), np.float32(np.sin(self.angle))
        u, v = n * ca + e * sa, -n * sa + e * ca
        col = np.searchsorted(self.u_edges, u)
        lo = np.concatenate([[-1e9], self.u_edges]).astype(np.float32)[col]
        hi = np.concatenate([self.u_edges, [1e9]]).astype(np.float32)[col]
        vv = v + self.v_offset[col]
        row = np.floor(vv / self.v_height[col]).astype(np.int64)
        dv = np.abs(vv - (row + 0.5) * self.v_height[col])
        dv = self.v_height[col] / 2 - dv
        key = self.field_params[(col * 131 + row * 17) % len(self.field_params)]
        crop = key % len(_PALETTE)
        along = ((key >> 4) & 1).astype(bool)
        s = np.where(along, u, v)
        stripes = np.sin((2 * np.pi) * s / self.stripe_period[crop]) * (
            0.06 + 0.06 * ((key >> 5) & 1)
        )
        tint = 1.0 + 0.12 * (((key >> 8) % 7) / 6.0 - 0.5)
        rgb = _PALETTE[crop] * (tint * (1 + stripes + 0.16 * noise))[..., None]
        du_lo, du_hi = u - lo, hi - u
        du = np.minimum(du_lo, du_hi)
        kind = self.edge_kind[np.where(du_lo < du_hi, col, col + 1)]
        _put(rgb, (dv < 1.5) | ((du < 1.5) & (kind == 0)), _TRACK, noise, 0.08)
        _put(rgb, (du < 9 + 4 * noise) & (kind == 1), _TREE, noise, 0.35)
        _put(rgb, (du < 4) & (kind == 2), _ROAD, noise, 0.03)
        n0, amp, wl, ph = self.river
        river_d = np.abs(n - (n0 + amp * np.sin(e / wl * 2 * np.pi + ph))) * np.float32(0.85)
        _put(rgb, river_d < 45 + 10 * noise, _TREE, noise, 0.4)
        _put(rgb, river_d < 16 + 3 * noise, _WATER, noise, 0.06)
        e0, slope = self.main_road
        road_d = np.abs(e - (e0 + slope * n + 40 * np.sin(n / 900))) * np.float32(0.95)
        _put(rgb, road_d < 5, _ROAD, noise, 0.03)
        _put(rgb, (road_d > 5) & (road_d < 6), _TRACK, noise, 0.05)
        return np.clip(rgb, 0, 255).astype(np.uint8)

    def draw_village(self, ortho: Ortho, rng: np.random.Generator) -> None:
        """Houses in garden plots along the main road: sharp, distinctive features."""
        n0, _e0 = self.village
        px = 1 / ortho.gsd_m
        for _ in range(260):
            n = n0 + rng.uniform(-350, 350)
            e = self.main_road[0] + self.main_road[1] * n + 40 * np.sin(n / 900)
            e += rng.choice([-1, 1]) * rng.uniform(15, 160)
            hh, ww = rng.uniform(7, 16, 2)
            r0, c0 = int((ortho.n_max_m - n) * px), int((e - ortho.e_min_m) * px)
            if not (0 <= r0 < ortho.image.shape[0] and 0 <= c0 < ortho.image.shape[1]):
                continue
            garden = ortho.image[
                max(0, r0 - int(12 * px)) : r0 + int((hh + 12) * px),
                max(0, c0 - int(8 * px)) : c0 + int((ww + 8) * px),
            ]
            garden[:] = (garden * 0.7 + np.array([60, 90, 40]) * 0.3).astype(np.uint8)
            roof = _ROOFS[rng.integers(len(_ROOFS))]
            ortho.image[r0 : r0 + int(hh * px), c0 : c0 + int(ww * px)] = roof
            ortho.image[r0 : r0 + int(hh * px), c0 : c0 + int(ww * px / 2)] = (roof * 0.8).astype(
                np.uint8
            )


def _put(
    rgb: np.ndarray, mask: np.ndarray, colour: np.ndarray, noise: np.ndarray, amount: float
) -> None:
    rgb[mask] = colour * (1 + amount * noise[mask])[:, None]


def _draw_copses(ortho: Ortho, rng: np.random.Generator) -> None:
    """Scattered tree clumps and lone farmsteads: the landmarks that make a field recognisable."""
    h, w = ortho.image.shape[:2]
    px = 1 / ortho.gsd_m
    area_km2 = h * w * ortho.gsd_m**2 / 1e6
    for _ in range(int(25 * area_km2)):
        r0, c0 = rng.integers(0, h), rng.integers(0, w)
        rad = int(rng.uniform(6, 30) * px)
        win = ortho.image[max(0, r0 - rad) : r0 + rad, max(0, c0 - rad) : c0 + rad]
        yy, xx = np.ogrid[: win.shape[0], : win.shape[1]]
        cy, cx = min(r0, rad), min(c0, rad)
        blob = (yy - cy) ** 2 + (xx - cx) ** 2 < rad**2 * rng.uniform(0.5, 1.0, (win.shape[0], 1))
        if rng.random() < 0.2:  # a farmstead: a roof in a yard instead of trees
            win[blob] = (win[blob] * 0.5 + np.array([150, 140, 120]) * 0.5).astype(np.uint8)
            s = max(2, rad // 3)
            win[max(0, cy - s) : cy + s, max(0, cx - 2 * s) : cx + 2 * s] = _ROOFS[
                rng.integers(len(_ROOFS))
            ]
        else:
            win[blob] = (_TREE * rng.uniform(0.8, 1.2)).astype(np.uint8)
