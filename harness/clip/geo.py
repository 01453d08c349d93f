"""Geodesy for clips: WGS-84 lat/lon/alt to a local NED tangent plane and Web-Mercator tiles."""

from __future__ import annotations

import numpy as np

A_M = 6378137.0
F = 1 / 298.257223563
E2 = F * (2 - F)
MERCATOR_HALF_M = np.pi * A_M  # EPSG:3857 spans [-pi*a, pi*a] in both axes


def geodetic_to_ecef(lat_deg, lon_deg, alt_m) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    n = A_M / np.sqrt(1 - E2 * np.sin(lat) ** 2)
    x = (n + alt_m) * np.cos(lat) * np.cos(lon)
    y = (n + alt_m) * np.cos(lat) * np.sin(lon)
    z = (n * (1 - E2) + alt_m) * np.sin(lat)
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_geodetic(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bowring's method with two refinements: sub-millimetre anywhere near the surface."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    lon = np.arctan2(y, x)
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1 - E2))
    for _ in range(3):
        n = A_M / np.sqrt(1 - E2 * np.sin(lat) ** 2)
        alt = p / np.cos(lat) - n
        lat = np.arctan2(z, p * (1 - E2 * n / (n + alt)))
    n = A_M / np.sqrt(1 - E2 * np.sin(lat) ** 2)
    alt = p / np.cos(lat) - n
    return np.degrees(lat), np.degrees(lon), alt


def _ecef_to_ned_matrix(lat_deg: float, lon_deg: float) -> np.ndarray:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    return np.array(
        [[-sl * co, -sl * so, cl], [-so, co, 0.0], [-cl * co, -cl * so, -sl]], dtype=np.float64
    )


def geodetic_to_ned(lat_deg, lon_deg, alt_m, origin: tuple[float, float, float]) -> np.ndarray:
    """Points (..., 3) in metres north, east, down of `origin` = (lat_deg, lon_deg, alt_m)."""
    d = geodetic_to_ecef(lat_deg, lon_deg, alt_m) - geodetic_to_ecef(*origin)
    return d @ _ecef_to_ned_matrix(origin[0], origin[1]).T


def ned_to_geodetic(ned: np.ndarray, origin: tuple[float, float, float]):
    ecef = np.asarray(ned) @ _ecef_to_ned_matrix(origin[0], origin[1]) + geodetic_to_ecef(*origin)
    return ecef_to_geodetic(ecef)


def lonlat_to_mercator(lat_deg, lon_deg) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:3857 metres (x east, y north) on the sphere of radius a, as tile servers use."""
    x = A_M * np.radians(lon_deg)
    y = A_M * np.log(np.tan(np.pi / 4 + np.radians(lat_deg) / 2))
    return x, y


def mercator_to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    lon = np.degrees(np.asarray(x) / A_M)
    lat = np.degrees(2 * np.arctan(np.exp(np.asarray(y) / A_M)) - np.pi / 2)
    return lat, lon


def tile_pixel_to_mercator(z: int, x, y, tile_px: int = 256):
    """XYZ (slippy map) tile coordinates, fractional allowed, to EPSG:3857 metres."""
    size = 2 * MERCATOR_HALF_M / 2**z
    return -MERCATOR_HALF_M + np.asarray(x) * size, MERCATOR_HALF_M - np.asarray(y) * size


def mercator_to_tile(z: int, mx, my):
    size = 2 * MERCATOR_HALF_M / 2**z
    return (np.asarray(mx) + MERCATOR_HALF_M) / size, (MERCATOR_HALF_M - np.asarray(my)) / size


def tile_to_ne(z: int, tx, ty, origin: tuple[float, float, float]) -> np.ndarray:
    """Fractional XYZ tile coordinates to local [north_m, east_m] at the origin's height."""
    lat, lon = mercator_to_lonlat(*tile_pixel_to_mercator(z, tx, ty))
    ned = geodetic_to_ned(lat, lon, np.full(np.shape(lat), origin[2]), origin)
    return ned[..., :2]


def ne_to_tile(z: int, ne: np.ndarray, origin: tuple[float, float, float]):
    """Local [north_m, east_m] (ground plane, down = 0) to fractional XYZ tile coordinates."""
    ne = np.asarray(ne, dtype=np.float64)
    ned = np.concatenate([ne, np.zeros((*ne.shape[:-1], 1))], axis=-1)
    lat, lon, _ = ned_to_geodetic(ned, origin)
    return mercator_to_tile(z, *lonlat_to_mercator(lat, lon))


def inside_polygon(point: np.ndarray, polygon: np.ndarray) -> bool:
    """Point in a convex polygon given by its corners in order (either winding)."""
    edges = np.roll(polygon, -1, axis=0) - polygon
    rel = point - polygon
    cross = edges[:, 0] * rel[:, 1] - edges[:, 1] * rel[:, 0]
    return bool(np.all(cross >= 0) or np.all(cross <= 0))
