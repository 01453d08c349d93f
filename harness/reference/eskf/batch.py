"""The ESKF's propagation over a run of IMU samples in a few numpy calls, as per-sample steps do.

Between two fixes the biases are constant, so the per-sample rotations and accelerations are
whole-array expressions; the attitude is a running product of 3x3 matrices (a few batched
products, `running_product`). The covariance keeps the per-sample filter's schedule: it folds
the composed transition every `cov_every` samples and at every stop (a sample where the caller
reads the filter), and the folds between two stops are summed in closed form,
P <- A P A^T + sum_i B_i Q_i B_i^T, with B_i the transition after fold i. The transitions
between any two samples come from prefix sums over the run (`Transitions`), so no 15x15
product is formed per sample or per fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GRAVITY_NED = np.array([0.0, 0.0, 9.81])
_EYE3, _EYE15 = np.eye(3), np.eye(15)
_SKEW_AT = np.array([1, 2, 3, 5, 6, 7])  # flat 3x3 slot
_SKEW_FROM = np.array([2, 1, 2, 0, 1, 0])  # <- vector index
_SKEW_SIGN = np.array([-1.0, 1.0, 1.0, -1.0, -1.0, 1.0])


def skew_many(v: np.ndarray) -> np.ndarray:
    """[v_k]x for each row of an (n, 3) array, as (n, 3, 3)."""
    out = np.zeros((len(v), 9))
    out[:, _SKEW_AT] = v[:, _SKEW_FROM] * _SKEW_SIGN
    return out.reshape(-1, 3, 3)


def rodrigues_many(theta: np.ndarray) -> np.ndarray:
    """exp([theta_k]x) for each row of an (n, 3) array: I + s K + c K^2, as the scalar form."""
    a2 = np.einsum("ki,ki->k", theta, theta)
    small = a2 < 1e-18
    safe = np.where(small, 1.0, a2)
    a = np.sqrt(safe)
    s = np.where(small, 1.0, np.sin(a) / a)
    c = np.where(small, 0.5, (1 - np.cos(a)) / safe)
    K = skew_many(theta)
    return _EYE3 + s[:, None, None] * K + c[:, None, None] * (K @ K)


def running_product(m: np.ndarray, block: int = 8) -> np.ndarray:
    """Inclusive running products m[0] m[1] ... m[k] of square matrices along axis 0: within
    blocks of `block` step by step (across all blocks at once), the blocks' own products in
    log2(n / block) batched steps, then each block times the product of those before it."""
    n, d = len(m), m.shape[-1]
    pad = -n % block
    out = np.concatenate([m, np.broadcast_to(np.eye(d), (pad, d, d))]) if pad else m.copy()
    out = out.reshape(-1, block, d, d)
    for j in range(1, block):
        out[:, j] = out[:, j - 1] @ out[:, j]
    heads = out[:, -1].copy()
    step = 1
    while step < len(heads):
        heads[step:] = heads[:-step] @ heads[step:]
        step *= 2
    out[1:] = heads[:-1, None] @ out[1:]
    return out.reshape(-1, d, d)[:n]


@dataclass(frozen=True)
class Nominal:
    """The nominal state before each sample of a run and after its last (index k in 0..n),
    and each sample's specific force in the world frame."""

    p: np.ndarray  # (n + 1, 3)
    v: np.ndarray  # (n + 1, 3)
    R: np.ndarray  # (n + 1, 3, 3)
    f: np.ndarray  # (n, 3)


def integrate(
    p: np.ndarray,
    v: np.ndarray,
    R: np.ndarray,
    a_body: np.ndarray,
    dtheta: np.ndarray,
    dt: np.ndarray,
) -> Nominal:
    """The nominal recursion over bias-corrected samples."""
    n = len(dt)
    Rs = np.empty((n + 1, 3, 3))
    Rs[0] = R
    Rs[1:] = R @ running_product(rodrigues_many(dtheta))
    f = np.einsum("kij,kj->ki", Rs[:n], a_body)
    acc = f + GRAVITY_NED
    vs = np.empty((n + 1, 3))
    vs[0] = 0.0
    np.cumsum(acc * dt[:, None], axis=0, out=vs[1:])
    vs += v
    ps = np.empty((n + 1, 3))
    ps[0] = 0.0
    np.cumsum(vs[:n] * dt[:, None] + (0.5 * dt * dt)[:, None] * acc, axis=0, out=ps[1:])
    ps += p
    return Nominal(ps, vs, Rs, f)


class Transitions:
    """The error transition Phi(b -> e) = F_{e-1} ... F_b between any two sample indices of a
    run, in closed form from prefix sums (no product of 15x15 matrices).

    With f_k = R_k a_k the sample's specific force in the world frame, the attitude error
    carried in the world frame (R dtheta) changes only through the gyro bias, so each block of
    the product is a sum over the samples between b and e of terms in R_k, f_k and dt_k:
    prefix sums (over samples j < k) S1..S7, differenced at b and e. They are kept side by
    side, so a transition gathers them in two reads:
    matrices [R_k | S1 = sum dt R_{j+1} | S2 = sum dt R_j | S4 = sum dt [f_j]x S1_j |
    S6 = sum dt S2_j | S7 = sum dt S4_j], vectors [t_k | S3 = sum dt f_j | S5 = sum dt S3_j].
    """

    def __init__(self, run: Nominal, dt: np.ndarray) -> None:
        n = len(dt)
        w = dt[:, None, None]
        m = self.m = np.zeros((n + 1, 3, 18))
        m[:, :, 0:3] = run.R
        np.cumsum(w * np.concatenate([run.R[1:], run.R[:n]], axis=2), axis=0, out=m[1:, :, 3:9])
        x = self.x = np.zeros((n + 1, 7))
        x[1:, 0] = np.cumsum(dt)
        self.t = x[:, 0]  # time from the run's start to each sample
        np.cumsum(dt[:, None] * run.f, axis=0, out=x[1:, 1:4])
        np.cumsum(dt[:, None] * x[:n, 1:4], axis=0, out=x[1:, 4:7])
        np.cumsum(skew_many(dt[:, None] * run.f) @ m[:n, :, 3:6], axis=0, out=m[1:, :, 9:12])
        np.cumsum(w * m[:n, :, 6:12], axis=0, out=m[1:, :, 12:18])

    def between(self, b: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Phi(b_i -> e_i) for index arrays b <= e, as (m, 15, 15)."""
        mb, xb = self.m[b], self.x[b]
        d, dx = self.m[e] - mb, self.x[e] - xb
        T = dx[:, 0]
        Tm = T[:, None, None]
        W, Y = dx[:, 1:4], dx[:, 4:7] - T[:, None] * xb[:, 1:4]
        rs = mb[:, :, 0:6]  # [R_b | S1_b]
        yx, wx = skew_many(Y) @ rs, skew_many(W) @ rs
        rt_e = self.m[e, :, 0:3].swapaxes(1, 2)
        phi = np.zeros((len(b), 15, 15))
        phi[:, _DIAG, _DIAG] = 1.0
        phi[:, _P_ROWS, _V_COLS] = T[:, None]
        phi[:, 0:3, 6:9] = -yx[:, :, 0:3]
        phi[:, 0:3, 9:12] = Tm * mb[:, :, 6:9] - d[:, :, 12:15]
        phi[:, 0:3, 12:15] = d[:, :, 15:18] - Tm * mb[:, :, 9:12] - yx[:, :, 3:6]
        phi[:, 3:6, 6:9] = -wx[:, :, 0:3]
        phi[:, 3:6, 9:12] = -d[:, :, 6:9]
        phi[:, 3:6, 12:15] = d[:, :, 9:12] - wx[:, :, 3:6]
        phi[:, 6:9, 6:9] = rt_e @ mb[:, :, 0:3]
        phi[:, 6:9, 12:15] = -(rt_e @ d[:, :, 3:6])
        return phi


_DIAG = np.array([0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14])  # identity blocks (not dtheta's)
_P_ROWS, _V_COLS = np.arange(0, 3), np.arange(3, 6)


@dataclass
class Pending:
    """Transitions composed since the last fold: their product, count and time span."""

    phi: np.ndarray
    count: int
    span_s: float


def plan(n: int, count: int, every: int, stops: Sequence[int]) -> list[tuple[int, int, int]]:
    """The run cut into fold groups (begin, end, kind): kind 1 a fold, 2 a fold at a stop, 0
    the unfolded tail; `count` samples are already pending before the run."""
    groups = []
    pos = 0
    for end, at_stop in [*((s + 1, True) for s in stops), (n, False)]:
        while pos < end:
            nxt = min(pos + every - count, end)
            full = nxt - pos + count == every
            kind = 2 if at_stop and nxt == end else 1 if full else 0
            groups.append((pos, nxt, kind))
            count = 0 if kind else count + nxt - pos
            pos = nxt
    return groups


def covariances(
    P: np.ndarray,
    run: Nominal,
    dt: np.ndarray,
    pending: Pending,
    every: int,
    stops: Sequence[int],
    q_density: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray]:
    """P at each stop and after the run's last fold; `pending` becomes the unfolded tail.

    Each fold i adds Q_i = q dt_i (over its samples, the first also over what was pending);
    between two reads P <- A P A^T + sum_i B_i Q_i B_i^T, with A the transition over the
    segment (the first also over what was pending) and B_i the transition after fold i."""
    n = len(dt)
    groups = plan(n, pending.count, every, stops)
    folds = [g for g in groups if g[2]]
    phi = Transitions(run, dt)
    if not folds:  # the whole run stays pending
        pending.phi = phi.between(np.array([0]), np.array([n]))[0] @ pending.phi
        pending.count += n
        pending.span_s += float(phi.t[n])
        return [], P
    ends = [g[1] for g in folds if g[2] == 2]
    if folds[-1][2] != 2:
        ends.append(folds[-1][1])
    begins = np.array([0, *ends[:-1]])
    fold_end = np.array([g[1] for g in folds])
    segment = np.searchsorted(ends, fold_end)  # the segment each fold belongs to
    tail = n > ends[-1]
    heads = np.concatenate([fold_end, begins, [ends[-1]] if tail else []]).astype(int)
    tails = np.concatenate([np.asarray(ends)[segment], ends, [n] if tail else []]).astype(int)
    all_phi = phi.between(heads, tails)
    k, m = len(folds), len(ends)
    after, whole = all_phi[:k], all_phi[k : k + m]
    whole[0] = whole[0] @ pending.phi
    spans = phi.t[fold_end] - phi.t[[g[0] for g in folds]]
    spans[0] += pending.span_s
    q = q_density * spans[:, None]
    firsts = np.searchsorted(segment, np.arange(m))  # each segment's first fold
    noise = np.add.reduceat((after * q[:, None, :]) @ after.swapaxes(1, 2), firsts)
    seen = []
    for A, Q in zip(whole, noise, strict=True):
        P = A @ P @ A.T + Q
        P = 0.5 * (P + P.T)
        seen.append(P)
    if tail:
        pending.phi, pending.count = all_phi[-1], n - ends[-1]
        pending.span_s = float(phi.t[n] - phi.t[ends[-1]])
    else:
        pending.phi, pending.count, pending.span_s = _EYE15, 0, 0.0
    return seen[: len(stops)], P
