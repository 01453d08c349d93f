"""ROS 2 bags written with the rosbags library (sqlite3 and MCAP) into clip bundles."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.clip.bundle import read_bundle
from harness.clip.rosbag import import_rosbag
from harness.commands.main import main
from harness.errors import ClipError

BASE_NS = 1_700_000_000 * 10**9
# The recorder receives each message this long after its header stamp: the camera lags more,
# so a reader that mixes up the clocks puts frames 80 ms late against the IMU.
LAG_NS = {"/imu/data": 40_000_000, "/gnss/fix": 40_000_000, "/cam/image": 120_000_000}


def _header(ts, t_s: float, frame: str, zero: bool = False):
    T = ts.types
    ns = 0 if zero else BASE_NS + round(t_s * 1e9)
    stamp = T["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)
    return T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame)


def write_bag(path: Path, storage: str, compressed: bool, zero_imu_stamps: bool = False) -> Path:
    """3 s: IMU 100 Hz (FLU, resting), NavSatFix 5 Hz walking north (first one without a fix),
    camera 5 Hz (raw bgr8 or JPEG) and one CameraInfo."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    T = ts.types
    vec, quat = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    cov = np.zeros(9)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as w:
        c_imu = w.add_connection("/imu/data", "sensor_msgs/msg/Imu", typestore=ts)
        c_fix = w.add_connection("/gnss/fix", "sensor_msgs/msg/NavSatFix", typestore=ts)
        kind = "CompressedImage" if compressed else "Image"
        c_img = w.add_connection("/cam/image", f"sensor_msgs/msg/{kind}", typestore=ts)
        c_info = w.add_connection("/cam/camera_info", "sensor_msgs/msg/CameraInfo", typestore=ts)
        events = []
        for i in range(300):
            t = i / 100
            msg = T["sensor_msgs/msg/Imu"](
                header=_header(ts, t, "imu", zero_imu_stamps),
                orientation=quat(x=0.0, y=0.0, z=0.0, w=1.0),
                orientation_covariance=np.array([-1.0, *[0.0] * 8]),
                angular_velocity=vec(x=0.01, y=-0.02, z=0.03),
                angular_velocity_covariance=cov,
                linear_acceleration=vec(x=0.1, y=0.2, z=9.81),
                linear_acceleration_covariance=cov,
            )
            events.append((t, c_imu, msg, "sensor_msgs/msg/Imu"))
        for i in range(15):
            t = i / 5
            status = T["sensor_msgs/msg/NavSatStatus"](status=-1 if i == 0 else 0, service=1)
            msg = T["sensor_msgs/msg/NavSatFix"](
                header=_header(ts, t, "gnss"),
                status=status,
                latitude=50.11 + 1e-5 * t,
                longitude=36.12,
                altitude=300.0,
                position_covariance=cov,
                position_covariance_type=0,
            )
            events.append((t, c_fix, msg, "sensor_msgs/msg/NavSatFix"))
            rgb = np.zeros((48, 64, 3), np.uint8)
            rgb[..., 0] = 16 * i  # red grows frame by frame
            if compressed:
                buf = io.BytesIO()
                Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
                img = T["sensor_msgs/msg/CompressedImage"](
                    header=_header(ts, t, "cam"),
                    format="jpeg",
                    data=np.frombuffer(buf.getvalue(), np.uint8),
                )
                events.append((t, c_img, img, "sensor_msgs/msg/CompressedImage"))
            else:
                img = T["sensor_msgs/msg/Image"](
                    header=_header(ts, t, "cam"),
                    height=48,
                    width=64,
                    encoding="bgr8",
                    is_bigendian=0,
                    step=64 * 3,
                    data=rgb[..., ::-1].reshape(-1).copy(),
                )
                events.append((t, c_img, img, "sensor_msgs/msg/Image"))
        info = T["sensor_msgs/msg/CameraInfo"](
            header=_header(ts, 0.0, "cam"),
            height=48,
            width=64,
            distortion_model="plumb_bob",
            d=np.zeros(5),
            k=np.array([50.0, 0, 32.5, 0, 51.0, 24.5, 0, 0, 1]),
            r=np.eye(3).reshape(-1),
            p=np.zeros(12),
            binning_x=0,
            binning_y=0,
            roi=T["sensor_msgs/msg/RegionOfInterest"](
                x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
            ),
        )
        events.append((0.0, c_info, info, "sensor_msgs/msg/CameraInfo"))
        for t, conn, msg, msgtype in sorted(events, key=lambda e: e[0]):
            lag = LAG_NS.get(conn.topic, 0)
            w.write(conn, BASE_NS + round(t * 1e9) + lag, ts.serialize_cdr(msg, msgtype))
    return path


@pytest.mark.parametrize(("storage", "compressed"), [("sqlite3", False), ("mcap", True)])
def test_bag_becomes_a_bundle_on_the_header_clock(tmp_path, storage, compressed):
    bag = write_bag(tmp_path / "bag", storage, compressed)
    clip = read_bundle(import_rosbag(bag, tmp_path / "b"))
    assert len(clip.imu.t_s) == 300 and clip.imu.t_s[1] == pytest.approx(0.01)
    assert np.median(clip.imu.accel_m_s2[:, 2]) == pytest.approx(-9.81)  # FLU -> FRD on load
    assert clip.imu.gyro_rad_s[0] == pytest.approx([0.01, 0.02, -0.03])
    assert len(clip.truth.t_s) == 14 and clip.truth.t_s[0] == pytest.approx(0.2)  # no-fix dropped
    assert clip.origin.lat_deg == pytest.approx(50.11 + 2e-6)
    assert clip.truth.p_ned_m[-1, 0] == pytest.approx(2.6e-5 * 111_250, rel=0.01)
    assert len(clip.frames) == 15 and clip.frames.t_s[3] == pytest.approx(0.6)
    frame = clip.frames.read(10)
    assert abs(int(frame[..., 0].mean()) - 160) < 6 and frame[..., 2].mean() < 8  # RGB kept
    assert (clip.camera.fx, clip.camera.cy) == (50.0, 24.5)
    prov = clip.manifest["provenance"]
    assert prov["clock"] == "header" and prov["camera_info_topic"] == "/cam/camera_info"
    lag = prov["topics"]["/imu/data"]["receive_minus_header_ms_median"]
    assert lag == pytest.approx(40.0)


def test_receive_clock_is_a_choice_and_zero_stamps_need_it(tmp_path):
    bag = write_bag(tmp_path / "bag", "sqlite3", False, zero_imu_stamps=True)
    with pytest.raises(ClipError, match=r"topic /imu/data: 300 messages have header.stamp 0"):
        import_rosbag(bag, tmp_path / "h")
    clip = read_bundle(import_rosbag(bag, tmp_path / "r", time="receive"))
    assert clip.manifest["provenance"]["clock"] == "receive"
    assert clip.imu.t_s[0] == 0.0 and clip.truth.t_s[0] == pytest.approx(0.2)
    assert clip.frames.t_s[3] == pytest.approx(0.68)  # the camera's 80 ms extra receive lag


def test_bad_bags_are_refused_with_the_place(tmp_path, capsys):
    with pytest.raises(ClipError, match=r"nothing: does not exist"):
        import_rosbag(tmp_path / "nothing", tmp_path / "o")
    junk = tmp_path / "junk.db3"
    junk.write_bytes(b"not sqlite at all")
    with pytest.raises(ClipError, match=r"junk.db3: not a readable ROS 2 bag"):
        import_rosbag(junk, tmp_path / "o")
    bag = write_bag(tmp_path / "bag", "mcap", True)
    with pytest.raises(ClipError, match=r"no sensor_msgs/msg/Imu topic '/imu' \(have: /imu/data\)"):
        import_rosbag(bag, tmp_path / "o", imu_topic="/imu")
    out = tmp_path / "cli"
    assert main(["clip", "import-rosbag", str(bag), "-o", str(out), "--time", "receive"]) == 0
    assert read_bundle(out).manifest["provenance"]["clock"] == "receive"
    assert main(["clip", "import-rosbag", str(junk), "-o", str(tmp_path / "x")]) == 1
    assert "not a readable ROS 2 bag" in capsys.readouterr().err


def test_a_humble_bag_without_definitions_uses_the_distro_typestore(tmp_path):
    import sqlite3

    bag = write_bag(tmp_path / "bag", "sqlite3", False)
    with sqlite3.connect(next(bag.glob("*.db3"))) as con:  # Humble's recorder writes none
        con.execute("DELETE FROM message_definitions")
    clip = read_bundle(import_rosbag(bag, tmp_path / "b", distro="humble"))
    assert len(clip.imu.t_s) == 300 and len(clip.frames) == 15
    with pytest.raises(ClipError, match=r"distro 'rolling': not a ROS 2 distro"):
        import_rosbag(bag, tmp_path / "c", distro="rolling")
