"""The oracle VPR strategy: fixes from ground truth plus seeded noise, outliers and faults.

It stands in for retrieval so the filter can be judged with known fix quality, and it injects
the faults the eskf-divergence gate must catch (held offsets, dropouts, NaN, scale error). It
is the only stage that reads truth (`RunContext.truth`); the filter it feeds never does.
Fixes come at the strategy's own rate over the span truth covers: no video, no corpus needed.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from harness.reference.settings import OracleSpec
from harness.run.stage import Fix, RunContext


def oracle_fixes(ctx: RunContext) -> list[Fix]:
    spec = ctx.scenario.vpr.oracle or OracleSpec()
    clip, truth = ctx.clip, ctx.truth  # the one stage that reads truth: it is the oracle
    replace(clip, truth=truth).need("truth", "the oracle strategy")
    rng = np.random.default_rng(spec.seed)
    fixes, held = [], 0
    t_truth = truth.t_s
    for t in np.arange(t_truth[0], t_truth[-1] + 1e-9, 1.0 / ctx.scenario.vpr.rate_hz):
        t = float(t)
        if spec.dropout_from_s is not None and 0 <= t - spec.dropout_from_s < spec.dropout_s:
            continue
        true_ne = np.array([np.interp(t, truth.t_s, truth.p_ned_m[:, k]) for k in (0, 1)])
        z = true_ne * spec.scale + rng.normal(0.0, spec.sigma_m, 2)
        source = "oracle"
        if rng.random() < spec.outlier_rate:
            angle = rng.uniform(0, 2 * math.pi)
            z = z + spec.outlier_offset_m * np.array([math.cos(angle), math.sin(angle)])
            source = "oracle-outlier"
        if spec.offset_from_s is not None and t >= spec.offset_from_s and held < spec.offset_fixes:
            z, held, source = z + np.asarray(spec.offset_ne_m), held + 1, "oracle-offset"
        if (
            spec.nan_at_s is not None
            and t >= spec.nan_at_s
            and "nan" not in {f.source for f in fixes}
        ):
            z, source = np.array([math.nan, math.nan]), "nan"
        fixes.append(Fix(t, (float(z[0]), float(z[1])), spec.sigma_m, source, spec.latency_s))
    ctx.emit("vpr", "oracle", fixes=len(fixes), **spec.model_dump())
    return fixes
