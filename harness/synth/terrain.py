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
# The same crops (and trees) in the other season, row for row: what a map of another date shows
_OTHER_SEASON = np.array(
    [
        [196, 182, 132],  # wheat -> stubble
        [168, 150, 88],  # young crop -> ripe
        [104, 128, 66],  # black soil -> sprouting
        [104, 86, 56],  # sunflower -> dry, brown
        [96, 80, 62],  # stubble -> ploughed
        [160, 150, 102],  # fallow grass -> dry grass
        [150, 138, 82],  # maize -> dry maize
        [100, 124, 62],  # harrowed soil -> green
    ],
    dtype=np.float32,
)
_TREE_OTHER_SEASON = np.array([84, 74, 42], np.float32)  # trees in autumn colour
_SHADE = np.array([0.45, 0.5, 0.62], np.float32)  # shadowed ground: darker, bluer (skylight)


@dataclass(frozen=True)
class OtherDate:
    """The same land on another date than the map: crops moved toward the other season, some
    fields re-sown or ploughed the other way, landmarks gone or new, tall things casting
    shadows away from the sun (the map has none). All drawn from `seed`, apart from the map's
    own draws, so the land under it is the map's."""

    seed: int
    season: float = 0.0
    changed_fields: float = 0.0
    changed_landmarks: float = 0.0
    sun_azimuth_deg: float | None = None
    shadow_m: float = 0.0


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
    seed: int,
    n_range_m: tuple[float, float],
    e_range_m: tuple[float, float],
    gsd_m: float,
    date: OtherDate | None = None,
) -> Ortho:
    """The map (`date` None), or the same land on another date."""
    rng = np.random.default_rng([seed, 4])
    h = int(np.ceil((n_range_m[1] - n_range_m[0]) / gsd_m))
    w = int(np.ceil((e_range_m[1] - e_range_m[0]) / gsd_m))
    ortho = Ortho(np.empty((h, w, 3), np.uint8), n_range_m[1], e_range_m[0], gsd_m)
    px_per_m = 1 / gsd_m
    noise = 0.55 * _noise(rng, (h, w), int(60 * px_per_m)) + 0.3 * _noise(
        rng, (h, w), int(12 * px_per_m)
    )
    noise += 0.15 * _noise(rng, (h, w), max(2, int(2 * px_per_m)))
    layout = _Layout(rng, n_range_m, e_range_m, date)
    tall = None if date is None else np.zeros((h, w), bool)
    for r0 in range(0, h, 256):
        rows = np.arange(r0, min(h, r0 + 256), dtype=np.float32)
        n = (ortho.n_max_m - (rows + 0.5) * gsd_m)[:, None]
        e = (ortho.e_min_m + (np.arange(w, dtype=np.float32) + 0.5) * gsd_m)[None, :]
        band = None if tall is None else tall[r0 : r0 + len(rows)]
        ortho.image[r0 : r0 + len(rows)] = layout.paint(n, e, noise[r0 : r0 + len(rows)], band)
    keep = _Keep(date)
    layout.draw_village(ortho, rng, keep, tall)
    area_km2 = h * w * gsd_m**2 / 1e6
    _draw_copses(ortho, rng, int(25 * area_km2), keep, tall, layout.tree)
    if date is not None:
        new = np.random.default_rng([date.seed, 4, 1])  # landmarks built or planted since
        count = int(25 * area_km2 * date.changed_landmarks)
        _draw_copses(ortho, new, count, None, tall, layout.tree)
        if date.sun_azimuth_deg is not None and date.shadow_m > 0:
            cast_shadows(ortho.image, tall, date.sun_azimuth_deg, date.shadow_m / gsd_m)
    return ortho


class _Keep:
    """Which of the map's landmarks the other date still shows; the map keeps them all."""

    def __init__(self, date: OtherDate | None) -> None:
        self._rng = None if date is None else np.random.default_rng([date.seed, 4, 2])
        self._gone = 0.0 if date is None else date.changed_landmarks

    def __call__(self) -> bool:
        return self._rng is None or self._rng.random() >= self._gone


def cast_shadows(image: np.ndarray, tall: np.ndarray, sun_azimuth_deg: float, length_px: float):
    """Darken the ground within `length_px` of a tall pixel, away from the sun (in place)."""
    away = np.radians(sun_azimuth_deg + 180.0)
    d_row, d_col = -np.cos(away), np.sin(away)  # rows go south, columns east
    shade = np.zeros_like(tall)
    h, w = tall.shape
    for k in range(1, int(np.ceil(length_px)) + 1):
        dr, dc = round(k * d_row), round(k * d_col)
        src = tall[max(0, -dr) : h - max(0, dr), max(0, -dc) : w - max(0, dc)]
        shade[max(0, dr) : h - max(0, -dr), max(0, dc) : w - max(0, -dc)] |= src
    shade &= ~tall
    image[shade] = (image[shade] * _SHADE + 0.5).astype(np.uint8)


class _Layout:
    """Random but fixed geometry: the field grid, its roads and windbreaks, the river."""

    def __init__(
        self,
        rng: np.random.Generator,
        n_range: tuple[float, float],
        e_range: tuple[float, float],
        date: OtherDate | None = None,
    ) -> None:
        self.date = date
        season = 0.0 if date is None else date.season
        self.palette = _PALETTE * (1 - season) + _OTHER_SEASON * season
        self.tree = _TREE * (1 - season) + _TREE_OTHER_SEASON * season
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

    def paint(
        self, n: np.ndarray, e: np.ndarray, noise: np.ndarray, tall: np.ndarray | None = None
    ) -> np.ndarray:
        """The band's colours; `tall` (the band's rows, when given) gets the trees marked."""
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
        if self.date is not None and self.date.changed_fields > 0:
            # a field's own draw (its key hashed with the date's seed) says if it changed
            mix = (key * 2654435761 + self.date.seed * 40503) % 1000003
            changed = mix < self.date.changed_fields * 1000003
            crop = np.where(changed, (crop + 1 + (mix >> 3) % (len(_PALETTE) - 1)) % 8, crop)
            along = np.where(changed, ~along, along)
        s = np.where(along, u, v)
        stripes = np.sin((2 * np.pi) * s / self.stripe_period[crop]) * (
            0.06 + 0.06 * ((key >> 5) & 1)
        )
        tint = 1.0 + 0.12 * (((key >> 8) % 7) / 6.0 - 0.5)
        rgb = self.palette[crop] * (tint * (1 + stripes + 0.16 * noise))[..., None]
        du_lo, du_hi = u - lo, hi - u
        du = np.minimum(du_lo, du_hi)
        kind = self.edge_kind[np.where(du_lo < du_hi, col, col + 1)]
        _put(rgb, (dv < 1.5) | ((du < 1.5) & (kind == 0)), _TRACK, noise, 0.08)
        trees = (du < 9 + 4 * noise) & (kind == 1)
        _put(rgb, trees, self.tree, noise, 0.35)
        _put(rgb, (du < 4) & (kind == 2), _ROAD, noise, 0.03)
        n0, amp, wl, ph = self.river
        river_d = np.abs(n - (n0 + amp * np.sin(e / wl * 2 * np.pi + ph))) * np.float32(0.85)
        riparian = river_d < 45 + 10 * noise
        water = river_d < 16 + 3 * noise
        _put(rgb, riparian, self.tree, noise, 0.4)
        _put(rgb, water, _WATER, noise, 0.06)
        e0, slope = self.main_road
        road_d = np.abs(e - (e0 + slope * n + 40 * np.sin(n / 900))) * np.float32(0.95)
        _put(rgb, road_d < 5, _ROAD, noise, 0.03)
        _put(rgb, (road_d > 5) & (road_d < 6), _TRACK, noise, 0.05)
        if tall is not None:
            tall[:] = (trees | riparian) & ~water & (road_d >= 6)
        return np.clip(rgb, 0, 255).astype(np.uint8)

    def draw_village(
        self, ortho: Ortho, rng: np.random.Generator, keep: _Keep, tall: np.ndarray | None
    ) -> None:
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
            roof = _ROOFS[rng.integers(len(_ROOFS))]
            if not keep():
                continue
            garden = ortho.image[
                max(0, r0 - int(12 * px)) : r0 + int((hh + 12) * px),
                max(0, c0 - int(8 * px)) : c0 + int((ww + 8) * px),
            ]
            garden[:] = (garden * 0.7 + np.array([60, 90, 40]) * 0.3).astype(np.uint8)
            ortho.image[r0 : r0 + int(hh * px), c0 : c0 + int(ww * px)] = roof
            if tall is not None:
                tall[r0 : r0 + int(hh * px), c0 : c0 + int(ww * px)] = True
            ortho.image[r0 : r0 + int(hh * px), c0 : c0 + int(ww * px / 2)] = (roof * 0.8).astype(
                np.uint8
            )


def _put(
    rgb: np.ndarray, mask: np.ndarray, colour: np.ndarray, noise: np.ndarray, amount: float
) -> None:
    rgb[mask] = colour * (1 + amount * noise[mask])[:, None]


def _draw_copses(
    ortho: Ortho,
    rng: np.random.Generator,
    count: int,
    keep: _Keep | None,
    tall: np.ndarray | None,
    tree: np.ndarray = _TREE,
) -> None:
    """Scattered tree clumps and lone farmsteads: the landmarks that make a field recognisable.
    `keep` says which to leave out (their draws still taken); `tall` gets them marked."""
    h, w = ortho.image.shape[:2]
    px = 1 / ortho.gsd_m
    for _ in range(count):
        r0, c0 = rng.integers(0, h), rng.integers(0, w)
        rad = int(rng.uniform(6, 30) * px)
        win = ortho.image[max(0, r0 - rad) : r0 + rad, max(0, c0 - rad) : c0 + rad]
        yy, xx = np.ogrid[: win.shape[0], : win.shape[1]]
        cy, cx = min(r0, rad), min(c0, rad)
        blob = (yy - cy) ** 2 + (xx - cx) ** 2 < rad**2 * rng.uniform(0.5, 1.0, (win.shape[0], 1))
        farmstead = rng.random() < 0.2  # a roof in a yard instead of trees
        shade = rng.integers(len(_ROOFS)) if farmstead else rng.uniform(0.8, 1.2)
        if keep is not None and not keep():
            continue
        spot = (
            None if tall is None else tall[max(0, r0 - rad) : r0 + rad, max(0, c0 - rad) : c0 + rad]
        )
        if farmstead:
            win[blob] = (win[blob] * 0.5 + np.array([150, 140, 120]) * 0.5).astype(np.uint8)
            s = max(2, rad // 3)
            roof = np.s_[max(0, cy - s) : cy + s, max(0, cx - 2 * s) : cx + 2 * s]
            win[roof] = _ROOFS[shade]
            if spot is not None:
                spot[roof] = True
        else:
            win[blob] = (tree * shade).astype(np.uint8)
            if spot is not None:
                spot[blob] = True
