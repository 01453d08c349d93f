"""Batched propagation is the per-sample filter: same states, same covariance, same schedule."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from harness.reference.eskf.batch import plan, rodrigues_many, running_product
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
    """Runs of odd lengths (short ones go sample by sample), stops that read the filter, and a
    fix between runs."""
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


def test_plan_folds_where_the_sample_loop_folds() -> None:
    """2 pending of 4: the first fold after 2 samples, a stop folds early, a tail stays pending."""
    assert plan(11, 2, 4, [4]) == [(0, 2, 1), (2, 5, 2), (5, 9, 1), (9, 11, 0)]
    assert plan(4, 0, 4, [3]) == [(0, 4, 2)]
    assert plan(3, 1, 4, []) == [(0, 3, 1)]


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


@pytest.mark.parametrize("n", [1, 7, 8, 9, 200])
def test_running_product_is_the_product_step_by_step(n: int) -> None:
    m = rodrigues_many(np.random.default_rng(n).normal(0.0, 0.01, (n, 3)))
    want, acc = np.empty_like(m), np.eye(3)
    for k in range(n):
        acc = acc @ m[k]
        want[k] = acc
    np.testing.assert_allclose(running_product(m), want, rtol=0, atol=1e-13)


def test_quaternions_near_zero_components_are_as_precise_as_the_rest() -> None:
    """A rotation about one axis by 1e-9 rad: its small components to rounding, w >= 0."""
    for axis in range(3):
        q = np.zeros(4)
        q[0], q[1 + axis] = math.cos(5e-10), -math.sin(5e-10)
        got = matrix_to_quat(quat_to_matrix(-q))
        np.testing.assert_allclose(got, q, rtol=1e-12, atol=1e-18)
