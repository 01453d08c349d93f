"""Flights that differ only in an IMU fault share one rendered video; a frame fault does not.
Every fault of a flight shares one orthophoto and corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.synth import make
from harness.synth.spec import SynthSpec


def _spec(*faults: dict) -> SynthSpec:
    return SynthSpec.model_validate({"preset": "derkachi-10s", "seed": 11, "faults": list(faults)})


def test_an_imu_fault_reuses_the_frames_a_frame_fault_renders_its_own(
    tmp_path: Path, monkeypatch
) -> None:
    renders: list[Path] = []
    write = make.write_video
    monkeypatch.setattr(
        make, "write_video", lambda path, *a, **k: renders.append(path) or write(path, *a, **k)
    )
    orthos: list[int] = []
    paint = make.make_ortho
    monkeypatch.setattr(make, "make_ortho", lambda *a, **k: orthos.append(1) or paint(*a, **k))
    plain = make.make_synth(_spec(), tmp_path)
    bias = {"kind": "imu_bias_step", "at_s": 2.0, "gyro_rad_s": [0.02, 0.0, 0.0]}
    biased = make.make_synth(_spec(bias), tmp_path)
    assert biased != plain and len(renders) == 1
    assert (biased / "video.mp4").read_bytes() == (plain / "video.mp4").read_bytes()
    imu = [np.load(folder / "imu.npy") for folder in (plain, biased)]
    assert not np.array_equal(*imu)  # the IMU is the flight's own
    dropped = make.make_synth(
        _spec({"kind": "dropped_frames", "start_s": 3.0, "duration_s": 2.0}), tmp_path
    )
    assert len(renders) == 2
    assert (dropped / "video.mp4").read_bytes() != (plain / "video.mp4").read_bytes()
    assert len(orthos) == 1  # one area for all three: its tiles and orthophoto are the same
    for name in ("ortho.npy", "corpus/local-grid/corpus.json"):
        assert (dropped / name).read_bytes() == (plain / name).read_bytes()
    assert not [p for p in tmp_path.rglob("*") if ".part-" in p.name]  # no half-written file
