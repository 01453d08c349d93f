"""tegrastats parsing (one recorded line per Jetson generation), psutil samples, merging."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.runners.device_telemetry import (
    Sampler,
    docker_stats_sample,
    merge_into_record,
    parse_tegrastats,
    psutil_sample,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "tegrastats"


def line(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text().strip()


def test_orin_nano_jetpack6() -> None:
    s = parse_tegrastats(line("orin-nano-jp6"))
    assert s["board_time"] == "05-05-2025 06:05:39"
    assert (s["ram_used_mb"], s["ram_total_mb"], s["lfb_blocks"]) == (2639, 7620, 9)
    assert (s["swap_used_mb"], s["swap_total_mb"]) == (0, 3810)
    assert s["cpu"][0] == {"load_pct": 1.0, "freq_mhz": 729.0} and len(s["cpu"]) == 6
    assert s["gpu_load_pct"] == 0.0 and s["gpu_freq_mhz"] is None
    assert s["temps_c"]["tj"] == pytest.approx(45.968)
    assert s["power_mw"]["VDD_IN"] == [5263, 5263]
    assert s["unknown"] == []


def test_xavier_nx_jetpack5() -> None:
    s = parse_tegrastats(line("xavier-nx-jp5"))
    assert s["cpu"][0] == {"load_pct": 23.0, "freq_mhz": 1397.0}
    assert s["gpu_load_pct"] == 0.0 and s["gpu_freq_mhz"] == [114.0]
    assert s["engines"]["EMC_FREQ"] == {"load_pct": 2.0, "freq_mhz": [204.0]}
    assert s["engines"]["VIC_FREQ"] == {"freq_mhz": [115.0]}
    assert s["engines"]["APE"] == {"freq_mhz": [150.0]}
    assert s["temps_c"]["CPU"] == 46.5 and s["temps_c"]["PMIC"] == 50.0
    assert s["power_mw"]["VDD_CPU_GPU_CV"] == [650, 670]
    assert s["unknown"] == []


def test_agx_orin_rails_and_offline_cores() -> None:
    s = parse_tegrastats(line("agx-orin-jp6"))
    assert "VDD_IN" not in s["power_mw"]
    assert set(s["power_mw"]) == {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"}
    assert s["cpu"][2] is None and len(s["cpu"]) == 12
    assert s["gpu_load_pct"] == 37.0 and s["gpu_freq_mhz"] == [1300.0, 1300.0]
    assert s["temps_c"]["cv0"] is None  # -256C: the sensor is absent
    assert s["unknown"] == []


def test_thor_tuples_and_unknown_tokens_are_kept() -> None:
    s = parse_tegrastats(line("thor-l4t38"))
    assert s["gpu_freq_mhz"] == [0.0, 0.0, 0.0] and s["gpu_load_pct"] is None
    assert s["power_mw"]["VDD_CPU_SOC_MSS"] == [5400, 5380, 5500]
    assert s["temps_c"]["tj"] == 42.0
    assert s["unknown"] == ["NEWTOKEN", "42x"]


def test_every_fixture_parses_ram_and_cpu() -> None:
    for path in sorted(FIXTURES.glob("*.txt")):
        s = parse_tegrastats(path.read_text())
        assert s["ram_total_mb"] > 0 and s["cpu"], path.name


def test_psutil_sample_has_the_tegrastats_keys() -> None:
    s = psutil_sample()
    assert s["source"] == "psutil"
    assert 0 < s["ram_used_mb"] <= s["ram_total_mb"]
    assert s["cpu"] and all("load_pct" in c for c in s["cpu"])


def test_sampler_collects_psutil_samples() -> None:
    with Sampler(interval_s=0.05, source="psutil") as sampler:
        time.sleep(0.3)
    assert len(sampler.samples) >= 2
    assert sampler.samples[0]["t_s"] < sampler.samples[-1]["t_s"]


def _record(path: Path, *, end: bool) -> None:
    lines = [{"kind": "condition", "scenario": {}}, {"kind": "event", "stage": "x", "type": "y"}]
    if end:
        lines.append({"kind": "end"})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_a_run_shorter_than_the_interval_still_has_a_sample() -> None:
    """The latency verdict names what the device was doing; a 0.1 s run has a sample too."""
    with Sampler(interval_s=5.0, source="psutil") as sampler:
        time.sleep(0.1)
    assert len(sampler.samples) == 1 and sampler.samples[0]["t_s"] < 1.0
    assert sampler.samples[0]["cpu_load_pct"] is not None


def test_merge_goes_before_the_end_line(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    _record(record, end=True)
    assert merge_into_record(record, [{"t_s": 0.5, "ram_used_mb": 1}]) == 1
    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["condition", "event", "event", "end"]
    assert lines[2] == {
        "kind": "event", "stage": "telemetry", "type": "sample", "t_s": 0.5, "ram_used_mb": 1
    }  # fmt: skip
    assert (tmp_path / "telemetry.jsonl").exists()


def test_merge_leaves_a_record_without_verdict_alone(tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    _record(record, end=False)
    before = record.read_text()
    assert merge_into_record(record, [{"t_s": 0.5}]) == 0
    assert record.read_text() == before
    assert (tmp_path / "telemetry.jsonl").read_text().count("\n") == 1


def test_docker_stats_frame_for_a_remote_engine() -> None:
    frame = {
        "read": "2026-11-25T02:00:01Z",
        "memory_stats": {"usage": 300 * 2**20, "limit": 4096 * 2**20},
        "cpu_stats": {"cpu_usage": {"total_usage": 3_000}, "system_cpu_usage": 10_000,
                      "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 6_000},
        "pids_stats": {"current": 7},
    }  # fmt: skip
    s = docker_stats_sample(frame)
    assert s == {"source": "docker-stats", "ram_used_mb": 300, "ram_limit_mb": 4096,
                 "cpu_load_pct": 50.0, "cpus": 2, "pids": 7}  # fmt: skip
    assert docker_stats_sample({})["cpu_load_pct"] is None
