"""What consecutive survey images say about time and scale, measured on the images alone.

Two registrations per consecutive pair of grey thumbnails, both by phase correlation: the
translation (how far the ground moved in the image) and, on the log-polar magnitude spectra
(Fourier-Mellin), the zoom and rotation. While the vehicle climbs or descends, the zoom
between two images is the ratio of their heights above ground, so the time offset between
the camera clock and the GPS track is the one that makes the track's heights at the two
(shifted) image times give the measured zooms; its uncertainty is the spread of that estimate
over bootstrap resamples of the pairs. With the offset known, the translation of level
pairs against the track's ground distance gives the focal length in pixels (the scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.errors import ClipError

CROP = 256  # the centre square the spectra are taken of
ANGLES, RADII = 360, 256
MIN_PEAK = 15.0  # a zoom peak this many standard deviations above the correlation surface
MIN_SHIFT_PEAK = 10.0  # the same for a translation (a sharper peak than a zoom's)
MIN_HEIGHT_M = 10.0  # below this the flat-ground zoom model is poor (the landing spot's relief)
MIN_ZOOM_PAIRS = 4
SEARCH_S = np.arange(-5.0, 5.0001, 0.01)
BOOTSTRAP = 300


def _correlate(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(dx, dy, peak): the shift that moves b onto a, with a sub-pixel parabola fit."""
    spec = np.fft.fft2(a) * np.conj(np.fft.fft2(b))
    surface = np.fft.ifft2(spec / (np.abs(spec) + 1e-9)).real
    ky, kx = np.unravel_index(int(np.argmax(surface)), surface.shape)
    h, w = surface.shape

    def sub(m: float, c: float, p: float) -> float:
        den = m - 2 * c + p
        return 0.0 if den == 0 else 0.5 * (m - p) / den

    c = surface[ky, kx]
    dy = ky + sub(surface[(ky - 1) % h, kx], c, surface[(ky + 1) % h, kx])
    dx = kx + sub(surface[ky, (kx - 1) % w], c, surface[ky, (kx + 1) % w])
    dy = dy - h if dy > h / 2 else dy
    dx = dx - w if dx > w / 2 else dx
    return float(dx), float(dy), float(c / surface.std())


def _windowed(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape
    y0, x0 = (h - CROP) // 2, (w - CROP) // 2
    crop = grey[y0 : y0 + CROP, x0 : x0 + CROP].astype(np.float64)
    return (crop - crop.mean()) * np.outer(np.hanning(CROP), np.hanning(CROP))


def _log_polar(grey: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    mag = np.abs(np.fft.fftshift(np.fft.fft2(_windowed(grey))))
    f = np.arange(-CROP // 2, CROP // 2) / CROP
    mag *= 1 - np.outer(np.cos(np.pi * f), np.cos(np.pi * f))  # high-pass: edges, not DC
    r = np.exp(np.linspace(0, np.log(CROP / 2), RADII))[None, :]
    th = np.linspace(0, np.pi, ANGLES, endpoint=False)[:, None]
    return ndimage.map_coordinates(
        mag, [CROP / 2 + r * np.sin(th), CROP / 2 + r * np.cos(th)], order=1
    )


@dataclass(frozen=True)
class PairMotion:
    """Per consecutive pair (k, k+1): image shift [px], zoom (size of k+1's content over k's),
    rotation [deg] and the two peaks."""

    shift_px: np.ndarray  # (M, 2) dx right, dy down
    shift_peak: np.ndarray
    zoom: np.ndarray
    rotation_deg: np.ndarray
    zoom_peak: np.ndarray


def pair_motion(greys: list[np.ndarray]) -> PairMotion:
    """Register every consecutive pair of grey thumbnails (each at least CROP px high)."""
    if min(g.shape[0] for g in greys) < CROP or min(g.shape[1] for g in greys) < CROP:
        raise ClipError(f"survey thumbnails must be at least {CROP} px on each side")
    step = np.log(CROP / 2) / (RADII - 1)
    shift, speak, zoom, rot, zpeak = [], [], [], [], []
    polar = [_log_polar(g) for g in greys]
    for a, b, pa, pb in zip(greys, greys[1:], polar, polar[1:], strict=False):
        dx, dy, peak = _correlate(_windowed(b), _windowed(a))
        shift.append((dx, dy))
        speak.append(peak)
        lr, la, peak = _correlate(pb, pa)
        zoom.append(float(np.exp(-lr * step)))  # a magnified image has its spectrum shrunk
        rot.append(la * 180.0 / ANGLES)
        zpeak.append(peak)
    return PairMotion(
        np.array(shift), np.array(speak), np.array(zoom), np.array(rot), np.array(zpeak)
    )


@dataclass(frozen=True)
class OffsetEstimate:
    """GPS time of an image = its camera-clock time + offset_s."""

    offset_s: float
    sigma_s: float
    interval_95_s: tuple[float, float]
    pairs: int
    rms_log_zoom: float

    def as_manifest(self) -> dict:
        return {
            "offset_s": round(self.offset_s, 3),
            "sigma_s": round(self.sigma_s, 3),
            "interval_95_s": [round(x, 3) for x in self.interval_95_s],
            "pairs": self.pairs,
            "rms_log_zoom": round(self.rms_log_zoom, 4),
            "method": (
                "zoom between consecutive images (Fourier-Mellin) against the GPS height ratio "
                "while climbing or descending; sigma and interval from "
                f"{BOOTSTRAP} bootstrap resamples of the pairs"
            ),
        }


def estimate_offset(
    motion: PairMotion, t_cam: np.ndarray, track_t: np.ndarray, height_m: np.ndarray
) -> OffsetEstimate:
    """The camera-clock-to-GPS offset that makes the track's height ratios match the zooms."""
    h = np.interp(t_cam, track_t, height_m)
    log_zoom = np.log(np.where(motion.zoom > 0, motion.zoom, np.nan))
    use = (
        (motion.zoom_peak > MIN_PEAK)
        & (np.abs(motion.rotation_deg) < 3.0)  # a pure zoom: no turn mixed in
        & (np.abs(np.nan_to_num(log_zoom)) > 0.02)  # the height changed by more than 2 %
        & (h[:-1] > MIN_HEIGHT_M)
        & (h[1:] > MIN_HEIGHT_M)
    )
    k = np.flatnonzero(use)
    if len(k) < MIN_ZOOM_PAIRS:
        raise ClipError(
            f"{len(k)} image pairs show a clear climb or descent (at least {MIN_ZOOM_PAIRS} "
            "needed to estimate the camera-to-GPS time offset); include the take-off or "
            "landing images, or give the offset (`frame_offset_s`, `frame_offset_sigma_s`)"
        )
    measured = log_zoom[k]
    errs = np.empty((len(SEARCH_S), len(k)))
    for n, d in enumerate(SEARCH_S):
        h0 = np.interp(t_cam[k] + d, track_t, height_m)
        h1 = np.interp(t_cam[k + 1] + d, track_t, height_m)
        with np.errstate(divide="ignore", invalid="ignore"):
            errs[n] = (measured - np.log(h0 / h1)) ** 2
    errs = np.nan_to_num(errs, nan=1e3, posinf=1e3)
    best = int(np.argmin(errs.sum(axis=1)))
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(k), size=(BOOTSTRAP, len(k)))
    counts = np.stack([np.bincount(d, minlength=len(k)) for d in draws])
    boot = SEARCH_S[np.argmin(counts @ errs.T, axis=1)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return OffsetEstimate(
        float(SEARCH_S[best]),
        float(np.std(boot)),
        (float(lo), float(hi)),
        len(k),
        float(np.sqrt(errs[best].mean())),
    )


def estimate_focal_px(
    motion: PairMotion, ground_step_m: np.ndarray, height_m: np.ndarray
) -> tuple[float, int]:
    """(focal length [thumbnail px], pairs): shift ~ focal * ground step / height over level,
    well-registered pairs (least squares through the origin)."""
    shift = np.hypot(motion.shift_px[:, 0], motion.shift_px[:, 1])
    use = (
        (motion.shift_peak > MIN_SHIFT_PEAK)
        & (shift > 20)
        & (np.abs(np.log(np.where(motion.zoom > 0, motion.zoom, np.inf))) < 0.02)
        & (height_m > MIN_HEIGHT_M)
    )
    if use.sum() < MIN_ZOOM_PAIRS:
        raise ClipError(
            f"{int(use.sum())} level image pairs register well enough to measure the scale; "
            "give the camera's field of view (`hfov_deg`)"
        )
    x = ground_step_m[use] / height_m[use]
    return float(x @ shift[use] / (x @ x)), int(use.sum())
