"""The harness's one clock (harness.run.feed): the clip reaches a stack in time order, and at
its ready line a process stack can read no sample of any stream; each frame appears in its
input only at its release."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness.clip import load_clip
from harness.clip.spec import ClipRef, Segment
from harness.process import launch
from harness.record import read_record
from harness.run import feed
from harness.run.driver import run

REPO = Path(__file__).resolve().parents[2]
CLIP = {"synth": {"preset": "derkachi-10s", "seed": 7, "overrides": {"frame_px": 240}}}

# Reports on stderr what it can read: at start, the .npy files of its input outside the corpus
# and what frames/ holds; at each frame line, how many frame files exist and how many IMU
# lines came before.
PROBE = r"""#!/bin/sh
samples=$(find /input -name "*.npy" -not -path "*/corpus/*" | wc -l)
echo "at-ready $samples frames-dir $(ls -A /input/frames | wc -l)" >&2
echo '{"type": "ready"}'
imu=0
while IFS= read -r line; do
    case "$line" in
    *'"type":"imu"'*) imu=$((imu + 1)) ;;
    *'"type":"frame"'*)
        i=$(echo "$line" | sed 's/.*"frame":\([0-9]*\).*/\1/')
        echo "frame $i files $(ls -A /input/frames | grep -c '^[0-9]*\.npy$') imu $imu" >&2 ;;
    esac
done
"""


@pytest.fixture(scope="module")
def clip():
    return load_clip(ClipRef.model_validate(CLIP), Segment(), REPO / ".cache", root=REPO)


def test_releases_come_in_time_order_motion_before_the_frame(clip) -> None:
    order = feed.schedule(clip)
    times = [r.t_s for r in order]
    assert times == sorted(times)
    kinds = {r.kind for r in order}
    assert kinds == {"imu", "frame", "telemetry"}
    assert sum(r.kind == "imu" for r in order) == len(clip.imu.t_s)
    assert [r.index for r in order if r.kind == "frame"] == list(range(len(clip.frames)))
    first_frame = next(k for k, r in enumerate(order) if r.kind == "frame")
    assert order[first_frame - 1].kind != "frame" and order[first_frame - 1].t_s <= 0.0


def test_an_in_process_stage_gets_pixels_only_at_their_turn(clip) -> None:
    seen = 0
    for sample in feed.released(clip):
        if sample.release.kind == "frame":
            assert sample.release.index == seen
            assert np.array_equal(sample.pixels, clip.frames.read(seen))
            seen += 1
        else:
            assert sample.pixels is None
    assert seen == len(clip.frames)
    decoded = [s.release.index for s in feed.released(clip, {3, 7}) if s.pixels is not None]
    assert decoded == [3, 7]  # the others released, not decoded


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="no bubblewrap")
def test_a_process_stack_can_read_no_sample_before_its_release(clip, tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "probe").write_text(PROBE)
    (stack / "probe").chmod(0o755)
    scenario = tmp_path / "probe.scenario.yaml"
    scenario.write_text(
        textwrap.dedent(
            f"""\
            format_version: 2
            name: probe
            clip: {json.dumps(CLIP)}
            pipeline: process
            process: {{command: [{json.dumps(str(stack / "probe"))}], speed: 20}}
            expect: pass
            """
        )
    )
    out = tmp_path / "out"
    read_record(run(scenario, out, root=REPO))
    lines = (out / "stack.stderr").read_text().splitlines()
    assert lines[0] == "at-ready 0 frames-dir 0"
    frames = [line.split() for line in lines[1:] if line.startswith("frame ")]
    assert len(frames) == 50
    for _, i, _, files, _, imu in frames:
        assert int(files) >= int(i) + 1  # written before its line (later ones: see below)
        t = clip.frames.t_s[int(i)]
        assert int(imu) == np.sum(clip.imu.t_s <= t)  # up to this frame's time, not beyond


class _Stdin:
    """A stack's stdin that notes, at each line written, which frame files exist."""

    def __init__(self, frames_dir: Path) -> None:
        self.frames_dir, self.seen = frames_dir, []

    def write(self, data: bytes) -> None:
        files = sorted(p.name for p in self.frames_dir.iterdir())
        self.seen.append((json.loads(data), files))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_frame_file_appears_at_its_release_and_not_before(clip, tmp_path: Path) -> None:
    stdin = _Stdin(tmp_path)
    clock = feed.Clock(len(clip.frames), speed=1e6)
    clock.start()
    launch._feed(SimpleNamespace(stdin=stdin), clip, _launch(tmp_path), clock)
    released = -1
    for line, files in stdin.seen:
        if line["type"] == "frame":
            released = line["frame"]
            assert line["file"] == launch.frame_file(released)
        assert files == [f"{i:06d}.npy" for i in range(released + 1)], line
    assert released == len(clip.frames) - 1


def _launch(frames_dir: Path, store: Path | None = None) -> launch.Launch:
    return launch.Launch(["stack"], frames_dir, frames_dir, frame_store=store)


def test_a_replay_links_what_an_earlier_one_left_in_the_store_at_release_only(
    clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    for n in (1, 2):  # the second replay decodes no frame: each comes from the store
        frames = tmp_path / f"replay{n}"
        frames.mkdir()
        stdin = _Stdin(frames)
        clock = feed.Clock(len(clip.frames), speed=1e6)
        clock.start()
        launch._feed(SimpleNamespace(stdin=stdin), clip, _launch(frames, store), clock)
        released = -1
        for line, files in stdin.seen:
            released = line["frame"] if line["type"] == "frame" else released
            assert files == [f"{i:06d}.npy" for i in range(released + 1)], (n, line)
        assert released == len(clip.frames) - 1
        decode = feed.sample

        def no_frame_decoded(clip, release, decode=decode):
            assert release.kind != "frame", f"frame {release.index} decoded again"
            return decode(clip, release)

        monkeypatch.setattr(feed, "sample", no_frame_decoded)
    last = f"{len(clip.frames) - 1:06d}.npy"
    assert np.array_equal(
        np.load(tmp_path / "replay2" / last), clip.frames.read(len(clip.frames) - 1)
    )
    assert all(t is not None for t in clock.released)
