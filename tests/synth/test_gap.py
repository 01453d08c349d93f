"""The gap between map and flight: checked parameters, seeded, and each effect does what it says."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.reference.vpr.align import align_north_up
from harness.scenario.load import load
from harness.scenario.problems import ScenarioInvalid
from harness.synth.camera import R_BODY_CAM, intrinsics, render_frames
from harness.synth.gap import camera, jpeg, mountings, other_date, tone_curve
from harness.synth.presets import spec_hash
from harness.synth.spec import Gap, SynthSpec
from harness.synth.terrain import OtherDate, cast_shadows, make_ortho
from tests.helpers import scenario_text

OFF = Gap(
    season=0,
    changed_fields=0,
    changed_landmarks=0,
    sun_azimuth_deg=None,
    exposure_ev=0,
    gamma=1,
    noise=0,
    motion_blur_px=0,
    defocus_px=0,
    tilt_deg=0,
    pointing_error_deg=0,
    jpeg_quality=None,
)
LEVEL = np.array([[1.0, 0.0, 0.0, 0.0]])  # level, heading north


@pytest.fixture(scope="module")
def land():
    """A 1.2 km map and a 240 px frame of it from 300 m, level and north-facing."""
    ortho = make_ortho(3, (-600.0, 600.0), (-600.0, 600.0), 0.5)
    cam = intrinsics(240, 240, 60.0)
    frame = next(render_frames([ortho], cam, np.array([[0.0, 0.0, -300.0]]), LEVEL))
    return ortho, cam, frame


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def test_a_spec_without_gap_keeps_its_hash_and_the_gap_changes_it():
    plain = SynthSpec(preset="derkachi-60s", seed=7)
    # the hash of this spec before gaps existed: cached clips and the ledger's classes hold
    assert spec_hash(plain) == "8f37a3a0aa7a66b9524f59cc4c6f5f6e1b71d68a2e25d5dbe68a99d62491e8bf"
    assert "gap" not in plain.doc()
    gapped = SynthSpec(preset="derkachi-60s", seed=7, gap=Gap())
    assert spec_hash(gapped) != spec_hash(plain)
    assert spec_hash(gapped) != spec_hash(gapped.model_copy(update={"gap": Gap(jpeg_quality=90)}))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("jpeg_quality", 0),
        ("tilt_deg", 45),
        ("season", 1.5),
        ("gamma", 0),
        ("sun_azimuth_deg", 360),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: float):
    with pytest.raises(ValidationError, match=field):
        Gap.model_validate({field: value})


def test_a_bad_gap_field_in_a_scenario_is_located(project: pytest.Pytester):
    text = scenario_text("gapped", "pass").replace(
        "seed: 7}", "seed: 7, gap: {jpeg_quality: 0, blur_px: 2}}"
    )
    path = project.makefile(".scenario.yaml", gapped=text)
    with pytest.raises(ScenarioInvalid) as info:
        load(path, project.path)
    problems = "\n".join(str(p) for p in info.value.problems)
    assert f"{path}:5:" in problems
    assert "clip.synth.gap.jpeg_quality: Input should be greater than or equal to 1" in problems
    assert "clip.synth.gap.blur_px: unknown key" in problems


def test_the_map_is_the_same_land_whatever_the_date_machinery():
    """A date that changes nothing paints the map exactly: the map's draws are untouched."""
    args = (5, (-300.0, 300.0), (-300.0, 300.0), 0.5)
    same = make_ortho(*args, OtherDate(seed=5))
    assert np.array_equal(make_ortho(*args).image, same.image)


def test_other_date_changes_grow_with_their_parameters():
    args = (5, (-500.0, 500.0), (-500.0, 500.0), 0.5)
    base = make_ortho(*args).image.astype(float)

    def changed(**date) -> float:
        other = make_ortho(*args, OtherDate(seed=5, **date)).image.astype(float)
        return float((np.abs(other - base).sum(axis=2) > 30).mean())

    assert changed(season=0.3) < changed(season=1.0)
    assert 0 < changed(changed_fields=0.2) < changed(changed_fields=0.8)
    assert changed(changed_landmarks=0.5) > 0
    assert changed(sun_azimuth_deg=90.0, shadow_m=10.0) > 0
    again = make_ortho(*args, OtherDate(seed=5, season=0.5, changed_fields=0.5)).image
    assert np.array_equal(
        again, make_ortho(*args, OtherDate(seed=5, season=0.5, changed_fields=0.5)).image
    )


def test_shadows_fall_away_from_the_sun():
    image = np.full((60, 60, 3), 200, np.uint8)
    tall = np.zeros((60, 60), bool)
    tall[25:35, 25:35] = True
    cast_shadows(image, tall, sun_azimuth_deg=90.0, length_px=8)  # sun in the east
    assert (image[30, 17:25].mean(axis=1) < 120).all()  # west of the tall block: shade
    assert (image[30, 35:45] == 200).all() and (image[17:25, 30] == 200).all()
    assert (image[25:35, 25:35] == 200).all()  # the tall thing itself is lit


def test_camera_effects_are_seeded(land):
    _, _, frame = land
    a = camera(frame, Gap(), np.random.default_rng(3))
    assert np.array_equal(a, camera(frame, Gap(), np.random.default_rng(3)))
    assert not np.array_equal(a, camera(frame, Gap(), np.random.default_rng(4)))
    assert np.array_equal(camera(frame, OFF, np.random.default_rng(0)), frame)


def test_lower_jpeg_quality_loses_more(land):
    _, _, frame = land
    scores = [psnr(frame, jpeg(frame, q)) for q in (95, 50, 20, 5)]
    assert scores == sorted(scores, reverse=True) and scores[-1] < scores[0] - 8, scores


def test_motion_blur_smears_along_track_only_and_defocus_everywhere(land):
    _, _, frame = land
    stripe = (np.arange(64) % 8 < 4).astype(np.uint8) * 200  # a period of 8 px
    rows = np.dstack([np.repeat(stripe[:, None], 64, axis=1)] * 3)  # across the track
    cols = np.dstack([np.repeat(stripe[None], 64, axis=0)] * 3)  # along it
    smear = OFF.model_copy(update={"motion_blur_px": 8})
    assert np.array_equal(camera(cols, smear, None), cols)  # nothing moves across the track
    smeared = camera(rows, smear, None)
    assert np.ptp(smeared[8:56, :, 0]) <= 1  # one period's smear: an even grey

    def energy(img: np.ndarray, axis: int) -> float:
        return float(np.abs(np.diff(img.astype(float), axis=axis)).mean())

    soft = camera(frame, OFF.model_copy(update={"defocus_px": 1.5}), None)
    assert energy(soft, 0) < 0.8 * energy(frame, 0) and energy(soft, 1) < 0.8 * energy(frame, 1)


def test_exposure_brightens_and_clips_and_gamma_darkens_midtones(land):
    _, _, frame = land
    brighter = camera(frame, OFF.model_copy(update={"exposure_ev": 1.0}), None)
    assert brighter.mean() > 1.5 * frame.mean() and (brighter == 255).mean() > (frame == 255).mean()
    curve = tone_curve(0.0, 1.5)
    assert curve[128] < 128 * 0.75 and curve[0] == 0 and curve[255] == pytest.approx(255)


def test_tilt_moves_the_footprint_forward_and_the_recorded_mounting_undoes_it(land):
    ortho, cam, nadir = land
    gap = OFF.model_copy(update={"tilt_deg": 10.0})
    real, recorded = mountings(gap)
    assert np.array_equal(real, recorded)  # no pointing error: the manifest tells the truth
    tilted = next(render_frames([ortho], cam, np.array([[0.0, 0.0, -300.0]]), LEVEL, real))
    ahead = 300 * np.tan(np.radians(10.0))  # the optical axis meets the ground 52.9 m north
    moved = next(render_frames([ortho], cam, np.array([[ahead, 0.0, -300.0]]), LEVEL))
    centre = np.s_[100:140, 100:140]

    def corr(a, b) -> float:
        return float(
            np.corrcoef(a[centre].astype(float).ravel(), b[centre].astype(float).ravel())[0, 1]
        )

    assert corr(tilted, moved) > 0.9 and corr(tilted, nadir) < 0.5
    # aligned with the recorded mounting, the tilted frame is the nadir frame's ground again
    square = (cam, LEVEL[0], 300.0, 150.0, 120)
    want = align_north_up(nadir, cam, R_BODY_CAM, *square[1:])
    got = align_north_up(tilted, cam, recorded, *square[1:])
    wrong = align_north_up(tilted, cam, R_BODY_CAM, *square[1:])
    assert psnr(want, got) > psnr(want, wrong) + 3


def test_the_pointing_error_is_not_recorded():
    real, recorded = mountings(Gap(tilt_deg=5.0, pointing_error_deg=2.0))
    axis = real @ np.array([0.0, 0.0, 1.0])  # the optical axis in the body (FRD)
    assert np.degrees(np.arctan2(axis[0], axis[2])) == pytest.approx(3.0)
    assert np.degrees(np.arctan2(recorded[0, 2], recorded[2, 2])) == pytest.approx(5.0)
    assert all(np.array_equal(m, R_BODY_CAM) for m in mountings(None))


def test_other_date_follows_the_gap():
    date = other_date(Gap(season=0.25, sun_azimuth_deg=None), seed=9)
    assert date.seed == 9 and date.season == 0.25 and date.sun_azimuth_deg is None


def test_a_gapped_clip_keeps_the_map_and_says_what_its_camera_did(tmp_path):
    """Same corpus (the map), other frames, the gap and the recorded mounting in the manifest."""
    from harness.clip import ClipRef, Segment, load_clip

    def clip(**extra):
        ref = ClipRef(synth=SynthSpec(preset="derkachi-10s", seed=3, **extra))
        return load_clip(ref, Segment(), tmp_path)

    plain, gapped = clip(), clip(gap=Gap(tilt_deg=8.0))
    assert plain.corpus().content_hash == gapped.corpus().content_hash
    assert plain.content_hash != gapped.content_hash
    assert psnr(plain.frames.read(10), gapped.frames.read(10)) < 25  # same pose, other view
    assert np.allclose(gapped.camera.r_body_cam, mountings(Gap(tilt_deg=8.0))[1])
    assert gapped.manifest["gap"]["tilt_deg"] == 8.0 and "gap" not in plain.manifest
