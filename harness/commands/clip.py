"""`harness clip make|inspect|plot|import-*`: make, read, picture and import clip bundles."""

from __future__ import annotations

import argparse
import shutil
import tarfile
import time
from pathlib import Path

from harness.errors import ClipError

DEFAULT_CACHE = Path(".cache/harness")


def register(groups) -> None:
    sub = groups.group("clip", "make, inspect, plot and import clip bundles")
    p = sub.add_parser("make", help="make the synthetic stand-in (cached by content hash)")
    p.add_argument(
        "spec", nargs="?", type=Path, help="YAML/JSON synth spec (as under `clip: synth:`)"
    )
    p.add_argument("--preset", help="a preset instead of a spec file, e.g. derkachi-60s")
    p.add_argument("--seed", type=int, default=0, help="seed with --preset (default 0)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="cache folder")
    p.add_argument("-o", "--out", type=Path, help="also copy the bundle here (a folder, or X.tar)")
    p.set_defaults(func=run_make)
    p = sub.add_parser("inspect", help="streams, rates, duration, gaps, conventions, hashes")
    p.add_argument("bundle", type=Path, help="bundle folder or .tar")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where a .tar is unpacked")
    p.set_defaults(func=run_inspect)
    p = sub.add_parser("plot", help="PNG: trajectory over the map, IMU traces, frame thumbnails")
    p.add_argument("bundle", type=Path, help="bundle folder or .tar")
    p.add_argument("-o", "--out", type=Path, required=True, help="PNG file to write")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where a .tar is unpacked")
    p.set_defaults(func=run_plot)
    p = sub.add_parser("import-srt", help="bundle from a DJI .SRT telemetry file (and its video)")
    p.add_argument("files", type=Path, nargs="+", metavar="[VIDEO] SRT")
    p.add_argument("-o", "--out", type=Path, required=True, help="bundle folder to write")
    p.add_argument("--hfov-deg", type=float, default=82.1, help="horizontal field of view")
    p.add_argument("--skip-bad", action="store_true", help="skip unparsable cues with a warning")
    p.add_argument(
        "--assume-alt-m", type=float, help="constant height for an SRT that records none"
    )
    p.add_argument(
        "--simulate-imu",
        action="store_true",
        help="add an IMU simulated from the smoothed track (SRT alone; labelled in the manifest)",
    )
    p.set_defaults(func=run_import_srt)
    p = sub.add_parser("import-ulog", help="bundle (IMU, baro, truth) from a PX4 .ulg")
    p.add_argument("ulog", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True, help="bundle folder to write")
    p.add_argument("--video", type=Path, help="the nadir camera's mp4, if any")
    p.add_argument("--video-start-s", type=float, default=0.0, help="clip time of its first frame")
    p.add_argument("--hfov-deg", type=float, default=60.0, help="its horizontal field of view")
    p.add_argument(
        "--truth-source",
        choices=("gnss", "estimate"),
        default="gnss",
        help="truth from the GNSS receiver or from the autopilot's own estimate (default gnss)",
    )
    p.add_argument(
        "--min-imu-hz",
        type=float,
        default=None,
        help="the slowest IMU accepted (default 100: the reference ESKF's stated minimum; "
        "0 imports a clip no filter integrates)",
    )
    p.set_defaults(func=run_import_ulog)
    p = sub.add_parser("import-rosbag", help="bundle from a ROS 2 bag (sqlite3 or MCAP)")
    p.add_argument("bag", type=Path, help="the bag folder, or its .db3 / .mcap file")
    p.add_argument("-o", "--out", type=Path, required=True, help="bundle folder to write")
    p.add_argument(
        "--time",
        choices=("header", "receive"),
        default="header",
        help="stamp samples by header.stamp (default) or the bag's receive time",
    )
    for name in ("imu", "gnss", "image", "camera-info"):
        p.add_argument(f"--{name}-topic", help=f"the {name} topic, when the bag has several")
    p.add_argument("--distro", default="humble", help="typestore for bags without definitions")
    p.add_argument("--hfov-deg", type=float, default=60.0, help="FOV when there is no CameraInfo")
    p.set_defaults(func=run_import_rosbag)
    p = sub.add_parser("import-survey", help="bundle from a survey: nadir images + a GPS track CSV")
    p.add_argument("images", type=Path, help="the folder of JPEG images (EXIF times)")
    p.add_argument("track", type=Path, help="the GPS track CSV (UTC time, lat, lon, alt)")
    p.add_argument("-o", "--out", type=Path, required=True, help="bundle folder to write")
    p.add_argument("--frame-px", type=int, default=640, help="frame width in the bundle")
    p.add_argument("--hfov-deg", type=float, help="field of view (default: measured)")
    p.add_argument("--frame-offset-s", type=float, help="camera clock to GPS (default: estimated)")
    p.add_argument("--frame-offset-sigma-s", type=float, help="its uncertainty")
    p.add_argument("--licence", help="licence text (default: the LICENSE file by the images)")
    p.add_argument(
        "--simulate-imu",
        action="store_true",
        help="add an IMU simulated from the smoothed track (labelled in the manifest)",
    )
    p.set_defaults(func=run_import_survey)


def load_spec(path: Path):
    """A synth spec from a YAML/JSON file; errors name the file."""
    from pydantic import ValidationError
    from ruamel.yaml import YAML, YAMLError

    from harness.synth.spec import SynthSpec

    try:
        doc = YAML(typ="safe").load(path.read_text())
        doc = doc.get("synth", doc) if isinstance(doc, dict) else doc
        return SynthSpec.model_validate(doc)
    except (OSError, YAMLError) as exc:
        raise ClipError(f"{path}: cannot read the spec ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(x) for x in first["loc"])
        raise ClipError(
            f"{path}: {place}: {first['msg']}; see docs/clip.md for the spec fields"
        ) from None


def run_make(args: argparse.Namespace) -> int:
    from harness.synth.make import make_synth
    from harness.synth.spec import SynthSpec

    if (args.spec is None) == (args.preset is None):
        raise ClipError("harness clip make: give a SPEC file or --preset NAME (one of them)")
    spec = load_spec(args.spec) if args.spec else SynthSpec(preset=args.preset, seed=args.seed)
    started = time.perf_counter()
    folder = make_synth(spec, args.cache_dir, progress=True)
    if args.out and args.out.suffix == ".tar":
        with tarfile.open(args.out, "w") as tar:
            tar.add(folder, arcname=args.out.stem)
        folder = args.out
    elif args.out:
        shutil.copytree(folder, args.out, dirs_exist_ok=True)
        folder = args.out
    print(f"{folder}  ({time.perf_counter() - started:.2f} s)")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from harness.clip.bundle import read_bundle
    from harness.clip.inspect import summarise

    for line in summarise(read_bundle(args.bundle, args.cache_dir)).lines():
        print(line)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from harness.clip.bundle import read_bundle
    from harness.report.clip_plots import plot_clip

    plot_clip(read_bundle(args.bundle, args.cache_dir), args.out)
    print(args.out)
    return 0


def run_import_srt(args: argparse.Namespace) -> int:
    from harness.clip.srt_import import import_dji

    if len(args.files) > 2:
        raise ClipError("harness clip import-srt: give [VIDEO] SRT (one or two files)")
    video, srt = (None, *args.files) if len(args.files) == 1 else args.files
    out = import_dji(
        video,
        srt,
        args.out,
        hfov_deg=args.hfov_deg,
        skip_bad=args.skip_bad,
        assume_alt_m=args.assume_alt_m,
        simulate_imu=args.simulate_imu,
    )
    print(out)
    return 0


def run_import_ulog(args: argparse.Namespace) -> int:
    from harness.clip.imu_rate import MIN_IMU_HZ
    from harness.clip.ulog import import_ulog

    minimum = MIN_IMU_HZ if args.min_imu_hz is None else args.min_imu_hz
    out = import_ulog(
        args.ulog,
        args.out,
        args.video,
        args.video_start_s,
        args.hfov_deg,
        args.truth_source,
        min_imu_hz=minimum,
    )
    print(out)
    return 0


def run_import_rosbag(args: argparse.Namespace) -> int:
    from harness.clip.rosbag import import_rosbag

    out = import_rosbag(
        args.bag,
        args.out,
        imu_topic=args.imu_topic,
        gnss_topic=args.gnss_topic,
        image_topic=args.image_topic,
        camera_info_topic=args.camera_info_topic,
        time=args.time,
        distro=args.distro,
        hfov_deg=args.hfov_deg,
    )
    print(out)
    return 0


def run_import_survey(args: argparse.Namespace) -> int:
    from harness.clip.survey import import_survey

    out = import_survey(
        args.images,
        args.track,
        args.out,
        frame_px=args.frame_px,
        hfov_deg=args.hfov_deg,
        frame_offset_s=args.frame_offset_s,
        frame_offset_sigma_s=args.frame_offset_sigma_s,
        licence=args.licence,
        simulate_imu=args.simulate_imu,
    )
    print(out)
    return 0
