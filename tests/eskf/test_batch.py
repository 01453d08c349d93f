"""The compiled run propagation is the per-sample filter: same states, covariance and schedule."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.reference.eskf.filter import Eskf, matrix_to_quat, numerical_problems, quat_to_matrix


def _imu(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gyro = rng.normal(0.0, 0.2, (n, 3))
    accel = rng.normal(0.0, 1.0, (n, 3)) + np.array([0.0, 0.0, -9.81])
    dt = rng.uniform(0.004, 0.006, n)
    return gyro, accel, dt


def _filter(every: int) -> Eskf:
    return Eskf(
        np.array([10.0, -5.0, -100.0]), np.array([12.0, 3.0, 0.0]), [1, 0, 0, 0], cov_every=every
    )


@pytest.mark.parametrize("every", [1, 3, 4])
def test_runs_with_stops_match_sample_by_sample(every: int) -> None:
    """Runs of odd lengths (one of a single sample), stops that read the filter, and a fix
    between runs."""
    gyro, accel, dt = _imu(157, seed=every)
    one, many = _filter(every), _filter(every)
    seen_one: dict[int, tuple] = {}
    seen_many: dict[int, tuple] = {}
    cuts, stops = [0, 1, 38, 42, 97, 157], {5, 20, 37, 40, 60, 61, 96, 150, 156}
    for begin, end in itertools.pairwise(cuts):
        for k in range(begin, end):
            one.propagate(gyro[k], accel[k], float(dt[k]))
            if k in stops:
                seen_one[k] = (one.p.copy(), one.R.copy(), one.P.copy())
        local = sorted(s - begin for s in stops if begin <= s < end)
        seen = many.propagate_many(gyro[begin:end], accel[begin:end], dt[begin:end], local)
        for j, k in enumerate(local):
            seen_many[begin + k] = (seen.p[j], seen.R[j], seen.P[j])
        for f in (one, many):
            f.fix(f.p[:2] + np.array([3.0, -2.0]), 5.0)
    assert seen_one.keys() == seen_many.keys() == stops
    for k in sorted(stops):
        for a, b in zip(seen_one[k], seen_many[k], strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9, err_msg=f"sample {k}")
    np.testing.assert_allclose(many.P, one.P, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(many.v, one.v, rtol=1e-9)
    np.testing.assert_allclose(many.ba, one.ba, rtol=1e-9, atol=1e-12)


def test_stops_outside_the_run_or_out_of_order_are_refused() -> None:
    """A stop the loop never reaches would leave its row unwritten: refused, not returned."""
    gyro, accel, dt = _imu(5, seed=1)
    for stops in ([2, 7], [3, 1]):
        with pytest.raises(ValueError, match="ascending sample indices"):
            _filter(4).propagate_many(gyro, accel, dt, stops)


def test_numerical_checks_on_a_stack_name_each_state_as_alone() -> None:
    """One Cholesky for a healthy stack; otherwise every state judged alone, so the one that
    is non-finite, asymmetric or not positive semi-definite is named where it is."""
    good = _filter(4).P
    nan = good.copy()
    nan[3, 3] = np.nan
    skewed = good.copy()
    skewed[0, 5] += 1.0
    negative = good.copy()
    negative[4, 4] = -1.0
    singular = np.zeros((15, 15))  # semi-definite: Cholesky fails, the eigenvalues pass it
    P = np.array([good, nan, skewed, negative, singular, good])
    p = np.zeros((6, 3))
    p[5, 0] = np.inf
    assert numerical_problems(P, p) == [
        None,
        "non-finite state or covariance",
        "covariance not symmetric",
        "covariance not positive semi-definite",
        None,
        "non-finite state or covariance",
    ]
    assert numerical_problems(P[[0, 4, 0]], p[[0, 0, 0]]) == [None, None, None]


def test_quaternions_near_zero_components_are_as_precise_as_the_rest() -> None:
    """A rotation about one axis by 1e-9 rad: its small components to rounding, w >= 0."""
    for axis in range(3):
        q = np.zeros(4)
        q[0], q[1 + axis] = math.cos(5e-10), -math.sin(5e-10)
        got = matrix_to_quat(quat_to_matrix(-q))
        np.testing.assert_allclose(got, q, rtol=1e-12, atol=1e-18)
