"""The filter's start: first finite fix, baro height, AHRS attitude, zero velocity, stated
sigmas; baro updates hold the height; no telemetry stops with the stream named."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.clip import ClipRef, Segment, load_clip
from harness.record import json_ready
from harness.reference.eskf.navigate import replay
from harness.reference.settings import EskfSpec
from harness.reference.vpr.queries import netvlad_fixes
from harness.run.stage import Fix, StageStop

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip():
    ref = ClipRef.model_validate({"synth": {"preset": "derkachi-10s", "seed": 3}})
    return load_clip(ref, Segment(), REPO / ".cache")


def _replay(clip, fixes: list[Fix], spec: EskfSpec) -> dict[str, list[dict]]:
    events: dict[str, list[dict]] = {}

    def emit(stage: str, type: str, **fields: object) -> None:
        events.setdefault(f"{stage}/{type}", []).append(json_ready(fields))

    replay(replace(clip, truth=None), fixes, spec, emit)
    return events


def test_the_filter_starts_from_the_first_finite_fix_baro_and_ahrs(clip) -> None:
    fixes = [
        Fix(0.5, (math.nan, math.nan), 30.0, "nan"),
        Fix(1.0, (120.0, -40.0), 30.0, "tile-a"),
        Fix(2.0, (130.0, -30.0), 30.0, "tile-b"),
    ]
    spec = EskfSpec(init_sigma_v_m_s=12.0, init_yaw_error_deg=0.0)
    ev = _replay(clip, fixes, spec)
    (init,) = ev["eskf/init"]
    tel = clip.telemetry
    k = tel.index_at(1.0)
    assert init["t_s"] == 1.0 and init["p_ned_m"][:2] == [120.0, -40.0]
    assert init["p_ned_m"][2] == pytest.approx(-tel.baro_height_m[k])
    assert np.allclose(init["q_wxyz"], tel.q_wxyz[k]) and init["v_ned_m_s"] == [0.0, 0.0, 0.0]
    assert init["sigma"]["p_ne_m"] == 30.0 and init["sigma"]["v_m_s"] == 12.0
    assert init["sources"]["p_ne"] == "first finite fix (tile-a)"
    first_state = ev["eskf/state"][0]
    assert first_state["t_s"] <= 1.0 and first_state["P_hh"][0][0] == pytest.approx(900.0)
    # the NaN before the start is recorded, unused; the start fix is recorded as used and is
    # not fused a second time
    assert [f["source"] for f in ev["eskf/fix"]] == ["nan", "tile-a", "tile-b"]
    assert ev["eskf/fix"][1]["note"] == "started the filter" and ev["eskf/fix"][1]["nis"] == 0
    assert (
        ev["eskf/fix"][0]["accepted"] is False
        and "before the filter started" in (ev["eskf/fix"][0]["note"])
    )
    assert ev["eskf/baro"][0]["updates"] >= 8


def test_baro_updates_hold_the_height_that_coasting_loses(clip) -> None:
    fixes = [Fix(0.2, (0.0, 0.0), 30.0, "start")]
    baro_err, free_err = (
        abs(
            _replay(clip, fixes, EskfSpec(baro_rate_hz=rate))["eskf/state"][-1]["p_ned_m"][2]
            - clip.truth.p_ned_m[-1, 2]
        )
        for rate in (1.0, None)
    )
    assert baro_err < 10.0 and baro_err < free_err


def test_no_telemetry_stops_naming_the_stream(clip) -> None:
    bare = replace(clip, telemetry=None, truth=None)
    with pytest.raises(StageStop, match="`telemetry` stream"):
        replay(bare, [Fix(1.0, (0.0, 0.0), 30.0, "x")], EskfSpec(), lambda *a, **k: None)

    class Ctx:  # the netvlad stage reaches the check before it touches an engine
        scenario = type("S", (), {"vpr": type("V", (), {"align": "north-up"})()})()

    Ctx.clip = bare
    with pytest.raises(StageStop, match=r"vpr.align: north-up .*`telemetry` stream.*align: none"):
        netvlad_fixes(Ctx(), [])
