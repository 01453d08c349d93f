"""The filter's propagation over a run of IMU samples, compiled (numba): `Eskf.propagate`'s
per-sample step in a loop, at a few microseconds a sample where numpy pays that per call.

Per sample: the nominal strapdown step, and the error transition F composed into the pending
product phi <- F phi (only F's non-identity blocks are applied); every `cov_every` samples, and
at each stop (a sample where the caller reads the filter), the covariance is folded,
P <- phi P phi^T + Q over the samples since the last fold, and symmetrised. The same math and
order as `Eskf.propagate`, so the two agree to rounding (tests/eskf/test_batch.py).

Numba compiles on first use and caches the machine code beside this file (or in
NUMBA_CACHE_DIR: the containers' cache volume), so a machine pays the compile once (about 8 s
on a busy 2-core host). Imported lazily: a process pays about half a second to import numba
and load the code (the local runner's preloaded process pays it once, `load_compiled`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from harness.reference.eskf import rotation

GRAVITY_DOWN = 9.81  # m/s^2, as filter.GRAVITY_NED
_rodrigues = njit(cache=True, nogil=True, inline="always")(rotation.rodrigues)


@njit(cache=True, nogil=True)
def propagate_run(
    p, v, R, ba, bg, P, phi, count, span_s, q_density, every, gyro, accel, dt, stops, seen
):
    """Integrate the run in place (p, v, R, P, phi are the caller's copies); fill `seen`
    (p, v, R, P stacked per stop) at each index of `stops` (ascending). Returns the pending
    fold's sample count and span after the run."""
    seen_p, seen_v, seen_R, seen_P = seen
    M = np.empty((15, 15))
    B = np.empty((3, 3))  # -R [a dt]x: the velocity error's response to the attitude error
    at = 0
    for k in range(dt.shape[0]):
        h = dt[k]
        a0, a1, a2 = accel[k, 0] - ba[0], accel[k, 1] - ba[1], accel[k, 2] - ba[2]
        d = _rodrigues((gyro[k, 0] - bg[0]) * h, (gyro[k, 1] - bg[1]) * h, (gyro[k, 2] - bg[2]) * h)
        ax, ay, az = a0 * h, a1 * h, a2 * h
        for i in range(3):
            r0, r1, r2 = R[i, 0], R[i, 1], R[i, 2]
            B[i, 0] = r2 * ay - r1 * az
            B[i, 1] = r0 * az - r2 * ax
            B[i, 2] = r1 * ax - r0 * ay
        _compose(phi, B, R, d, h)
        for i in range(3):  # the nominal step: acc = R a + g
            acc = R[i, 0] * a0 + R[i, 1] * a1 + R[i, 2] * a2 + (GRAVITY_DOWN if i == 2 else 0.0)
            p[i] = p[i] + v[i] * h + (0.5 * h * h) * acc
            v[i] = v[i] + acc * h
        for i in range(3):  # R <- R dR
            r0, r1, r2 = R[i, 0], R[i, 1], R[i, 2]
            for j in range(3):
                R[i, j] = r0 * d[0, j] + r1 * d[1, j] + r2 * d[2, j]
        count += 1
        span_s += h
        stop = at < stops.shape[0] and stops[at] == k
        if count >= every or (stop and count > 0):
            _fold(P, phi, M, q_density, span_s)
            count, span_s = 0, 0.0
        if stop:
            seen_p[at], seen_v[at], seen_R[at], seen_P[at] = p, v, R, P
            at += 1
    if at != stops.shape[0]:
        raise ValueError("stops must be ascending sample indices within the run")
    return count, span_s


@njit(cache=True, nogil=True, inline="always")
def _compose(phi, B, R, d, h):
    """phi <- F phi, F = I plus: dp += h dv; dv += B dtheta - h R dba; dtheta <- dR^T dtheta
    - h dbg (rows 9..14 of F are the identity's)."""
    for j in range(15):
        v0, v1, v2 = phi[3, j], phi[4, j], phi[5, j]
        t0, t1, t2 = phi[6, j], phi[7, j], phi[8, j]
        b0, b1, b2 = phi[9, j], phi[10, j], phi[11, j]
        phi[0, j] += h * v0
        phi[1, j] += h * v1
        phi[2, j] += h * v2
        for i in range(3):
            phi[3 + i, j] += (
                B[i, 0] * t0
                + B[i, 1] * t1
                + B[i, 2] * t2
                - h * (R[i, 0] * b0 + R[i, 1] * b1 + R[i, 2] * b2)
            )
        for i in range(3):
            phi[6 + i, j] = d[0, i] * t0 + d[1, i] * t1 + d[2, i] * t2 - h * phi[12 + i, j]


@njit(cache=True, nogil=True, inline="always")
def _fold(P, phi, M, q_density, span_s):
    """P <- phi P phi^T + diag(q) span_s, symmetric by construction; phi <- I.

    Rows 9..14 of phi are the identity's (F's are, and phi starts as I), so M = phi P is P
    there, and (M phi^T)[i, j] is M[i, j] for j >= 9: only rows 0..8 are multiplied."""
    for i in range(9):
        for j in range(15):
            acc = 0.0
            for k in range(15):
                acc += phi[i, k] * P[k, j]
            M[i, j] = acc
    for i in range(15):
        for j in range(i, 15):
            if j < 9:
                acc = 0.0
                for k in range(15):
                    acc += M[i, k] * phi[j, k]
            else:
                acc = M[i, j] if i < 9 else P[i, j]
            P[i, j] = acc
        P[i, i] += q_density[i] * span_s
        for j in range(i):
            P[i, j] = P[j, i]
    for i in range(15):
        for j in range(15):
            phi[i, j] = 1.0 if i == j else 0.0
