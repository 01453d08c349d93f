"""A 15-state error-state Kalman filter after Solà: IMU-driven nominal state, position fixes,
baro height.

Conventions (docs/contracts.md): NED world, FRD body, Hamilton w-first quaternion body->world,
local (right) attitude error. Error state [dp, dv, dtheta, dba, dbg]. The nominal state is
plain numpy float64; the error covariance is updated with filterpy (Joseph form). `propagate`
is the per-sample step in numpy; a run of samples between updates goes through the same step
compiled (`propagate_many`, `propagation`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from filterpy.kalman import update

from harness.reference.eskf.rotation import rodrigues

GRAVITY_NED = np.array([0.0, 0.0, 9.81])
H_HORIZONTAL = np.hstack([np.eye(2), np.zeros((2, 13))])
H_DOWN = np.eye(15)[2:3]
GATE_HEIGHT_NIS = 10.83  # chi2(1) at 0.999
# The slowest IMU this filter integrates: each sample is one first-order strapdown step, so
# below ~100 Hz the attitude and velocity increments of a flying vehicle are no longer small
# (coning and sculling go unmodelled) and the covariance no longer bounds the error.
MIN_IMU_HZ = 100.0


@dataclass(frozen=True)
class ImuNoise:
    """Continuous densities (per sqrt(Hz)); discretised per sample as N^2 * dt (the unit trap)."""

    accel_noise: float = 9.0e-3  # m/s^2/sqrt(Hz)
    gyro_noise: float = 9.5e-4  # rad/s/sqrt(Hz)
    accel_bias_rw: float = 1.5e-3  # m/s^3/sqrt(Hz)
    gyro_bias_rw: float = 9.7e-5  # rad/s^2/sqrt(Hz)


@dataclass(frozen=True)
class InitialSigma:
    p_m: float = 10.0  # horizontal, per axis
    height_m: float | None = None  # vertical; None: as p_m
    v_m_s: float = 1.0
    tilt_rad: float = math.radians(2.0)
    yaw_rad: float = math.radians(5.0)
    accel_bias_m_s2: float = 0.1
    gyro_bias_rad_s: float = math.radians(0.3)


def skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def rotvec_to_matrix(theta: np.ndarray) -> np.ndarray:
    """Rodrigues: exp([theta]x)."""
    return rodrigues(*np.asarray(theta, float).tolist())


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """Shepperd's method (the square root of the largest component, the others by division, so
    a component near zero is as precise as the rest), w >= 0; NaN for a non-finite matrix."""
    rows = r.tolist()
    if not math.isfinite(sum(rows[0] + rows[1] + rows[2])):  # a non-finite state (D0)
        return np.full(4, math.nan)
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = rows
    trace = r00 + r11 + r22
    if trace >= max(r00, r11, r22):
        s = 2 * math.sqrt(max(0.0, 1 + trace))
        q = (s / 4, (r21 - r12) / s, (r02 - r20) / s, (r10 - r01) / s)
    elif r00 >= r11 and r00 >= r22:
        s = 2 * math.sqrt(max(0.0, 1 + r00 - r11 - r22))
        q = ((r21 - r12) / s, s / 4, (r01 + r10) / s, (r02 + r20) / s)
    elif r11 >= r22:
        s = 2 * math.sqrt(max(0.0, 1 - r00 + r11 - r22))
        q = ((r02 - r20) / s, (r01 + r10) / s, s / 4, (r12 + r21) / s)
    else:
        s = 2 * math.sqrt(max(0.0, 1 - r00 - r11 + r22))
        q = ((r10 - r01) / s, (r02 + r20) / s, (r12 + r21) / s, s / 4)
    w, x, y, z = q if q[0] >= 0 else (-q[0], -q[1], -q[2], -q[3])
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    return np.array([w / norm, x / norm, y / norm, z / norm])


@dataclass(frozen=True)
class Stops:
    """The filter at the stops of a run, stacked: nominal position, velocity, attitude, and
    the error covariance (brought up to date there)."""

    p: np.ndarray  # (m, 3)
    v: np.ndarray  # (m, 3)
    R: np.ndarray  # (m, 3, 3)
    P: np.ndarray  # (m, 15, 15)

    @staticmethod
    def join(parts: Sequence[Stops]) -> Stops:
        return Stops(*(np.concatenate([getattr(s, k) for s in parts]) for k in "pvRP"))


@dataclass(frozen=True)
class FixResult:
    innovation_m: np.ndarray
    S: np.ndarray
    nis: float | None
    accepted: bool


class Eskf:
    """Nominal p, v, R (kept as a rotation matrix, reported as q), accel and gyro biases.

    The nominal state integrates every IMU sample. The error covariance is predicted every
    `cov_every` samples with the composed transition (F_n ... F_1) and the summed process noise,
    as flight filters predict covariance at their filter rate rather than the IMU rate; the
    noise it leaves out (F's mixing within a few milliseconds) is below the first-order
    Q = N^2 dt discretisation itself. Reading `P` (a fix, a state log) first brings it up to
    date, so every consumer sees the covariance at the current sample.
    """

    def __init__(
        self,
        p: np.ndarray,
        v: np.ndarray,
        q_wxyz: np.ndarray,
        noise: ImuNoise = ImuNoise(),
        sigma: InitialSigma = InitialSigma(),
        gate_nis: float = 13.82,  # chi2(2) at 0.999
        cov_every: int = 4,
    ) -> None:
        self.p, self.v = np.array(p, float), np.array(v, float)
        self.R = quat_to_matrix(np.asarray(q_wxyz, float) / np.linalg.norm(q_wxyz))
        self.ba, self.bg = np.zeros(3), np.zeros(3)
        self.noise, self.gate_nis, self.cov_every = noise, gate_nis, cov_every
        self._F = np.eye(15)
        self._phi, self._pending, self._pending_dt = np.eye(15), 0, 0.0
        self._q_density = np.array(
            [0.0] * 3
            + [noise.accel_noise**2] * 3
            + [noise.gyro_noise**2] * 3
            + [noise.accel_bias_rw**2] * 3
            + [noise.gyro_bias_rw**2] * 3
        )
        s = sigma
        height_m = s.p_m if s.height_m is None else s.height_m
        self._P = np.diag(
            [s.p_m**2] * 2
            + [height_m**2]
            + [s.v_m_s**2] * 3
            + [s.tilt_rad**2] * 2
            + [s.yaw_rad**2]
            + [s.accel_bias_m_s2**2] * 3
            + [s.gyro_bias_rad_s**2] * 3
        )

    @property
    def q_wxyz(self) -> np.ndarray:
        return matrix_to_quat(self.R)

    @property
    def P(self) -> np.ndarray:
        """The error covariance at the current sample."""
        self._fold()
        return self._P

    def _fold(self) -> None:
        """Predict the covariance over the samples composed since the last fold."""
        if self._pending:
            self._predict(self._phi, self._pending_dt)
            self._phi, self._pending, self._pending_dt = np.eye(15), 0, 0.0

    def _predict(self, phi: np.ndarray, span_s: float) -> None:
        """P <- phi P phi^T + Q over `span_s` seconds (Q_i = N^2 dt, diagonal), symmetrised."""
        P = phi @ self._P @ phi.T
        P.reshape(-1)[::16] += self._q_density * span_s
        self._P = 0.5 * (P + P.T)

    def now(self) -> Stops:
        """The filter as it stands, as one stop."""
        return Stops(self.p[None], self.v[None], self.R[None], self.P[None])

    def propagate(self, gyro: np.ndarray, accel: np.ndarray, dt: float) -> None:
        """One IMU sample: integrate the nominal state, compose the error transition."""
        a_body = accel - self.ba
        ax, ay, az = (a_body * dt).tolist()
        dR = rodrigues(*((gyro - self.bg) * dt).tolist())
        R = self.R
        acc = R @ a_body + GRAVITY_NED
        F = self._F  # identity plus the blocks below, rewritten every sample
        F[0, 3] = F[1, 4] = F[2, 5] = dt
        F[3:6, 6:9] = R @ np.array([[0.0, az, -ay], [-az, 0.0, ax], [ay, -ax, 0.0]])  # -R[a]x dt
        F[3:6, 9:12] = R * -dt
        F[6:9, 6:9] = dR.T
        F[6, 12] = F[7, 13] = F[8, 14] = -dt
        self.p = self.p + self.v * dt + (0.5 * dt * dt) * acc
        self.v = self.v + acc * dt
        self.R = R @ dR
        self._phi = F @ self._phi
        self._pending += 1
        self._pending_dt += dt
        if self._pending >= self.cov_every:
            self._fold()

    def propagate_many(
        self, gyro: np.ndarray, accel: np.ndarray, dt: np.ndarray, stops: Sequence[int] = ()
    ) -> Stops:
        """Samples in a row, as `propagate` on each, in one compiled loop (`propagation`).

        Returns the filter as it stood after each sample index in `stops` (ascending), its
        covariance brought up to date there.
        """
        from harness.reference.eskf.propagation import propagate_run  # numba: lazy

        m = len(stops)
        seen = Stops(np.empty((m, 3)), np.empty((m, 3)), np.empty((m, 3, 3)), np.empty((m, 15, 15)))
        p, v, R, P, phi = (x.copy() for x in (self.p, self.v, self.R, self._P, self._phi))
        self._pending, self._pending_dt = propagate_run(
            p, v, R, self.ba, self.bg, P, phi,
            self._pending, self._pending_dt, self._q_density, self.cov_every,
            *(np.ascontiguousarray(x, np.float64) for x in (gyro, accel, dt)),
            np.asarray(stops, np.int64), (seen.p, seen.v, seen.R, seen.P),
        )  # fmt: skip
        self.p, self.v, self.R, self._P, self._phi = p, v, R, P, phi
        return seen

    def fix(self, z_ne_m: np.ndarray, sigma_m: float) -> FixResult:
        """A horizontal position fix, chi-square gated; accepted fixes update and inject."""
        z = np.asarray(z_ne_m, float)
        r = z - self.p[:2]
        Rm = np.eye(2) * sigma_m**2
        S = H_HORIZONTAL @ self.P @ H_HORIZONTAL.T + Rm
        if not np.all(np.isfinite(r)):
            return FixResult(r, S, None, False)
        nis = float(r @ np.linalg.solve(S, r))
        if nis > self.gate_nis:
            return FixResult(r, S, nis, False)
        self._inject(r, Rm, H_HORIZONTAL)
        return FixResult(r, S, nis, True)

    def height(self, height_m: float, sigma_m: float) -> bool:
        """A baro height (up) update of the down position, chi-square gated; True if applied."""
        r = np.array([-height_m - self.p[2]])
        Rm = np.array([[sigma_m**2]])
        s = float(self.P[2, 2]) + sigma_m**2
        if not np.isfinite(r[0]) or r[0] ** 2 / s > GATE_HEIGHT_NIS:
            return False
        self._inject(r, Rm, H_DOWN)
        return True

    def _inject(self, r: np.ndarray, Rm: np.ndarray, H: np.ndarray) -> None:
        """Kalman update (Joseph form) and injection of the error estimate into the nominal."""
        dx, P = update(np.zeros(15), self.P, r, Rm, H)
        self._P = 0.5 * (P + P.T)
        self.p = self.p + dx[0:3]
        self.v = self.v + dx[3:6]
        R = self.R @ rodrigues(*dx[6:9].tolist())
        # keep R orthonormal: it is so to rounding, so one Newton step of the polar
        # decomposition reaches the nearest rotation (the SVD's U V^T) to rounding too
        self.R = 1.5 * R - 0.5 * (R @ R.T @ R)
        self.ba = self.ba + dx[9:12]
        self.bg = self.bg + dx[12:15]

    def reset_position(self, z_ne_m: np.ndarray, sigma_m: float) -> None:
        """Snap the horizontal position to a fix, forgetting its correlations."""
        P = self.P.copy()
        P[0:2, :] = 0.0
        P[:, 0:2] = 0.0
        P[0, 0] = P[1, 1] = sigma_m**2
        self._P = P
        self.p[:2] = z_ne_m


def load_compiled() -> None:
    """Load (the first time on a machine: compile) `propagate_many`'s loop for the types it
    is called with: about half a second a process, which the local runner's preloaded process
    pays once for all its runs (the `harness.preload` entry point)."""
    Eskf(np.zeros(3), np.zeros(3), [1.0, 0.0, 0.0, 0.0]).propagate_many(
        np.zeros((1, 3)), np.zeros((1, 3)), np.full(1, 0.005), [0]
    )


def numerical_problems(P: np.ndarray, p: np.ndarray) -> list[str | None]:
    """D0 checks on a stack of filter states (covariances P (m, 15, 15), positions p (m, 3)):
    finite, symmetric, positive semi-definite. One Cholesky for the whole stack when all are
    positive definite; otherwise each state is judged alone."""
    out: list[str | None] = [None] * len(P)
    finite = np.isfinite(P).all(axis=(1, 2)) & np.isfinite(p).all(axis=1)
    with np.errstate(invalid="ignore"):
        scale = np.abs(P).max(axis=(1, 2), initial=0.0)
        skew = np.abs(P - P.swapaxes(1, 2)).max(axis=(1, 2), initial=0.0)
    symmetric = skew <= 1e-6 * scale
    for i in np.flatnonzero(~finite):
        out[i] = "non-finite state or covariance"
    for i in np.flatnonzero(finite & ~symmetric):
        out[i] = "covariance not symmetric"
    judged = np.flatnonzero(finite & symmetric)
    try:  # positive definite passes at Cholesky's cost; otherwise the eigenvalues judge
        np.linalg.cholesky(P[judged])
        return out
    except np.linalg.LinAlgError:
        pass
    for i in judged:
        try:
            np.linalg.cholesky(P[i])
            continue
        except np.linalg.LinAlgError:
            pass
        if float(np.linalg.eigvalsh(P[i]).min()) < -1e-9 * float(P[i].diagonal().max()):
            out[i] = "covariance not positive semi-definite"
    return out
