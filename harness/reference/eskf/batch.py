"""The ESKF's propagation over a run of IMU samples in a few numpy calls, as per-sample steps do.

Between two fixes the biases are constant, so the per-sample rotations, accelerations and
error transitions are whole-array expressions; the attitude is a running product of 3x3
matrices (log2(n) batched products). The covariance keeps the per-sample filter's schedule:
it folds the composed transition every `cov_every` samples and at every stop (a sample where
the caller reads the filter), and the folds between two stops are summed in closed form,
P <- A P A^T + sum_i B_i Q_i B_i^T, with B_i the product of the transitions after fold i.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

GRAVITY_NED = np.array([0.0, 0.0, 9.81])
_EYE3, _EYE15 = np.eye(3), np.eye(15)
_SKEW_AT, _SKEW_FROM = [1, 2, 3, 5, 6, 7], [2, 1, 2, 0, 1, 0]  # flat 3x3 slot <- vector index
_SKEW_SIGN = np.array([-1.0, 1.0, 1.0, -1.0, -1.0, 1.0])
_DT_ROWS, _DT_COLS = [0, 1, 2, 6, 7, 8], [3, 4, 5, 12, 13, 14]  # dp/dv and dtheta/dbg blocks
_DT_SIGN = np.array([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])


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


def running_product(m: np.ndarray) -> np.ndarray:
    """Inclusive running products m[0] m[1] ... m[k] along axis 0, in log2(n) batched steps."""
    out = m.copy()
    step = 1
    while step < len(out):
        out[step:] = out[:-step] @ out[step:]
        step *= 2
    return out


@dataclass(frozen=True)
class Nominal:
    """The nominal state before each sample of a run and after its last: index k in 0..n."""

    p: np.ndarray  # (n + 1, 3)
    v: np.ndarray  # (n + 1, 3)
    R: np.ndarray  # (n + 1, 3, 3)
    F: np.ndarray  # (n, 15, 15): the error transition of each sample


def integrate(
    p: np.ndarray,
    v: np.ndarray,
    R: np.ndarray,
    a_body: np.ndarray,
    dtheta: np.ndarray,
    dt: np.ndarray,
) -> Nominal:
    """The nominal recursion and the error transitions over bias-corrected samples."""
    n = len(dt)
    dR = rodrigues_many(dtheta)
    Rs = np.empty((n + 1, 3, 3))
    Rs[0] = R
    Rs[1:] = R @ running_product(dR)
    acc = np.einsum("kij,kj->ki", Rs[:n], a_body) + GRAVITY_NED
    vs = np.empty((n + 1, 3))
    vs[0] = 0.0
    np.cumsum(acc * dt[:, None], axis=0, out=vs[1:])
    vs += v
    ps = np.empty((n + 1, 3))
    ps[0] = 0.0
    np.cumsum(vs[:n] * dt[:, None] + (0.5 * dt * dt)[:, None] * acc, axis=0, out=ps[1:])
    ps += p
    F = np.repeat(_EYE15[None], n, axis=0)
    F[:, _DT_ROWS, _DT_COLS] = dt[:, None] * _DT_SIGN
    F[:, 3:6, 6:9] = Rs[:n] @ skew_many(a_body * -dt[:, None])  # -R [a]x dt
    F[:, 3:6, 9:12] = Rs[:n] * -dt[:, None, None]
    F[:, 6:9, 6:9] = dR.transpose(0, 2, 1)
    return Nominal(ps, vs, Rs, F)


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
    F: np.ndarray,
    dt: np.ndarray,
    pending: Pending,
    every: int,
    stops: Sequence[int],
    q_density: np.ndarray,
) -> Iterator[tuple[int, np.ndarray]]:
    """(stop, P there) for each stop, then (-1, P after the run's last fold); `pending`
    becomes the unfolded tail."""
    groups = plan(len(F), pending.count, every, stops)
    phis, spans = _group_products(F, dt, groups, every, pending)
    ends = [i for i, g in enumerate(groups) if g[2] == 2]
    if groups[-1][2] != 2:
        ends.append(len(groups) - 1)
    segments, first = [], 0
    for last in ends:
        segments.append([i for i in range(first, last + 1) if groups[i][2]])
        first = last + 1
    wholes, noises = _segment_sums(phis, spans, segments, q_density)
    for last, whole, noise in zip(ends, wholes, noises, strict=True):
        P = whole @ P @ whole.T + noise
        P = 0.5 * (P + P.T)
        if groups[last][2] == 2:
            yield groups[last][1] - 1, P
    begin, end, kind = groups[-1]
    if kind:
        pending.phi, pending.count, pending.span_s = _EYE15, 0, 0.0
    else:
        before = pending.count if len(groups) == 1 else 0
        pending.phi, pending.count = phis[-1], before + end - begin
        pending.span_s = float(spans[-1])
    yield -1, P


def _group_products(
    F: np.ndarray, dt: np.ndarray, groups: list, every: int, pending: Pending
) -> tuple[np.ndarray, np.ndarray]:
    """Each group's composed transition (the first also over what was pending) and span."""
    begins = np.array([g[0] for g in groups], int)
    ends = np.array([g[1] for g in groups], int)
    sizes = ends - begins
    slots = np.repeat(_EYE15[None, None], len(groups), axis=0).repeat(every, axis=1)
    owner = np.repeat(np.arange(len(groups)), sizes)
    slot = np.arange(len(F)) - np.repeat(begins, sizes)  # groups tile the run from 0 to n
    slots[owner, slot] = F
    phis = slots[:, 0]
    for j in range(1, every):
        phis = slots[:, j] @ phis
    phis[0] = phis[0] @ pending.phi
    cum = np.concatenate([[0.0], np.cumsum(dt)])
    spans = cum[ends] - cum[begins]
    spans[0] += pending.span_s
    return phis, spans


def _segment_sums(
    phis: np.ndarray, spans: np.ndarray, segments: list[list[int]], q_density: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment of folds (phi_i, Q_i = q dt_i): A = phi_m ... phi_1 and sum_i B_i Q_i B_i^T,
    B_i the transitions after fold i; segments padded with identity folds of no time."""
    depth = max(1, max(len(seg) for seg in segments))
    stack = np.repeat(_EYE15[None, None], depth, axis=0).repeat(len(segments), axis=1)
    times = np.zeros((depth, len(segments)))
    for j, seg in enumerate(segments):
        stack[: len(seg), j] = phis[seg]
        times[: len(seg), j] = spans[seg]
    suffix = running_product(stack[::-1])  # suffix[k] = phi_d ... phi_{d-k}, per segment
    after = np.empty_like(stack)  # after[i]: the transitions that follow fold i
    after[:-1] = suffix[::-1][1:]
    after[-1] = _EYE15
    q = q_density * times[..., None]
    noise = ((after * q[..., None, :]) @ after.swapaxes(-1, -2)).sum(axis=0)
    return suffix[-1], noise
