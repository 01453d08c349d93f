"""The ESKF stage reads the IMU and telemetry only as the harness's clock releases them
(harness.run.feed): its events are those of the replay over the whole clip's arrays it
replaced (kept in data/causal_replay_10s.json), and it runs with the clip's IMU (times
included) and telemetry out of its reach, never holding a sample later than the time it has
asked for. The IMU's dropouts and rate are judged from the samples as they arrive: the same
dropouts as over the whole stream, each named once its end has arrived, and a too-slow IMU
refused."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness.clip import ClipRef, Segment, load_clip
from harness.clip.imu_rate import dropouts
from harness.clip.model import ImuStream
from harness.errors import ClipError
from harness.record import json_ready
from harness.reference.eskf.navigate import navigate, replay
from harness.reference.settings import EskfSpec
from harness.run import feed
from harness.run.stage import Fix

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "data" / "causal_replay_10s.json"
SPECS = {"default": {}, "baro-7hz": {"baro_rate_hz": 7.0}}


@pytest.fixture(scope="module")
def clip():
    ref = ClipRef.model_validate({"synth": {"preset": "derkachi-10s", "seed": 5}})
    return load_clip(ref, Segment(), REPO / ".cache")


def _fixes(clip) -> list[Fix]:
    """Off-grid times, a 300 m jump that the gate rejects, a NaN fix."""
    truth = clip.truth
    fixes = [
        Fix(float(t), tuple((truth.p_ned_m[truth.index_at(t), :2] + off).tolist()), 25.0, "t")
        for t, off in zip(
            np.arange(0.53, clip.duration_s, 0.7), [0, 0, 0, 0, 300, 0] * 3, strict=False
        )
    ]
    fixes[7] = Fix(fixes[7].t_s, (math.nan, 0.0), 25.0, "t")
    return fixes


def _collect(events: list) -> callable:
    def emit(stage: str, type: str, **fields: object) -> None:
        if type != "throughput" and stage != "latency":  # timings differ from run to run
            events.append([f"{stage}/{type}", json_ready(fields)])

    return emit


def _events(clip, spec: dict) -> list:
    events: list = []
    replay(replace(clip, truth=None), _fixes(clip), EskfSpec(**spec), _collect(events))
    return events


def _close(a, b, where: str) -> None:
    """Equal structure, numbers to 1e-9 (absolute and relative), NaN where NaN."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(
            a, b, rel_tol=1e-9, abs_tol=1e-9
        ), f"{where}: {a} != {b}"
    else:
        assert a == b, where


@pytest.mark.parametrize("name", sorted(SPECS))
def test_released_replay_emits_what_the_whole_clip_replay_did(clip, name) -> None:
    golden = json.loads(GOLDEN.read_text())[name]
    events = json.loads(json.dumps(_events(clip, SPECS[name])))
    assert [k for k, _ in events] == [k for k, _ in golden]
    assert sum(k == "eskf/state" for k, _ in golden) > 50  # the whole 10 s, not a stub
    for n, ((kind, got), (_, want)) in enumerate(zip(events, golden, strict=True)):
        _close(got, want, f"event {n} {kind}")


class Unreachable:
    """An array the stage must not read: any use raises."""

    def __getattr__(self, name):
        raise AssertionError(f"the stage read a clip array directly ({name})")

    def __getitem__(self, key):
        raise AssertionError("the stage read a clip array directly")

    def __array__(self, *args, **kwargs):
        raise AssertionError("the stage read a clip array directly")

    def __len__(self):
        raise AssertionError("the stage read a clip array directly")


class Counted(Unreachable):
    """A stream's sample times the stage may count (which streams the clip has) but not read."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self):
        return self._n


class Watched:
    """The clock's releases as the stage gets them, recording the latest time it asked for."""

    def __init__(self, clip) -> None:
        self._released = feed.released(clip)
        self.now = -math.inf

    def until(self, t_s: float) -> feed.Batch:
        self.now = max(self.now, t_s)
        batch = self._released.until(t_s)
        assert np.all(batch.imu.t_s <= t_s) and np.all(batch.telemetry.t_s <= t_s)
        return batch


def _hidden_run(clip, fixes: list[Fix]) -> tuple[list, list]:
    """The stage over `clip` with its IMU (times included) and telemetry out of reach: its
    events, and (time an event is about, the latest time the clock was asked for then)."""
    watched = Watched(clip)
    events: list = []
    times: list = []

    def emit(stage: str, type: str, **fields: object) -> None:
        about = fields.get("t_s", fields.get("to_s"))
        if about is not None:
            times.append((about, watched.now))
        _collect(events)(stage, type, **fields)

    hidden = replace(
        clip,
        imu=ImuStream(Counted(len(clip.imu.t_s)), Unreachable(), Unreachable()),
        telemetry=replace(
            clip.telemetry, q_wxyz=Unreachable(), baro_height_m=Unreachable(), t_s=Unreachable()
        ),
    )
    ctx = SimpleNamespace(
        clip=hidden,
        scenario=SimpleNamespace(eskf=EskfSpec()),
        emit=emit,
        released=lambda pixels_of=None: watched,
    )
    navigate(ctx, fixes)
    return json.loads(json.dumps(events)), times


def test_the_stage_reads_no_sample_before_its_release(clip) -> None:
    """The clip the stage holds has its IMU and telemetry out of reach; each event it writes
    is about a time the clock had already reached; the events are the same."""
    events, times = _hidden_run(replace(clip, truth=None), _fixes(clip))
    assert times and all(t <= now for t, now in times)
    golden = json.loads(GOLDEN.read_text())["default"]
    assert [k for k, _ in events] == [k for k, _ in golden]
    for n, ((kind, got), (_, want)) in enumerate(zip(events, golden, strict=True)):
        _close(got, want, f"event {n} {kind}")


def _thinned(clip, keep) -> object:
    imu = clip.imu
    return replace(
        clip, truth=None, imu=ImuStream(imu.t_s[keep], imu.gyro_rad_s[keep], imu.accel_m_s2[keep])
    )


def test_imu_dropouts_are_named_as_they_end_the_same_as_over_the_whole_stream(clip) -> None:
    """Gaps before the first fix, between fixes and within one run: each named once, when the
    sample ending it has arrived, as `dropouts` finds them over the whole stream."""
    t = clip.imu.t_s
    keep = np.ones(len(t), bool)
    for a, b in [(0.2, 0.25), (3.0, 3.4), (6.61, 6.64), (8.0, 9.0)]:
        keep &= ~((t > a) & (t < b))
    thinned = _thinned(clip, keep)
    want = dropouts(thinned.imu.t_s)
    assert len(want) == 4
    events, times = _hidden_run(thinned, _fixes(clip))
    named = [(e["from_s"], e["to_s"]) for kind, e in events if kind == "eskf/imu-dropout"]
    assert named == want
    assert all(t <= now for t, now in times)


@pytest.mark.parametrize("fixes", ["some", "none"])
def test_an_imu_below_the_filters_minimum_is_refused_from_what_arrived(clip, fixes) -> None:
    """A 50 Hz IMU: refused with its rate named when the filter would start on it, and at the
    end where no fix ever starts it."""
    slow = _thinned(clip, np.arange(len(clip.imu.t_s)) % 4 == 0)
    events: list = []
    with pytest.raises(ClipError, match=r"runs at 50\.0 Hz \(median\), below the 100 Hz"):
        replay(slow, _fixes(clip) if fixes == "some" else [], EskfSpec(), _collect(events))
    assert not any(kind == "eskf/init" for kind, _ in events)
