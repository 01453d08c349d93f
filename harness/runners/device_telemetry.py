"""Device telemetry for the run record: tegrastats lines on a Jetson, psutil/procfs elsewhere.

`parse_tegrastats` reads one line as any board generation prints it (tokens in any order,
value tuples of any length, unknown tokens kept). `Sampler` collects samples in a thread
while a run goes on; `merge_into_record` puts them into the record as
`telemetry/sample` events, before the verdict line so that line stays last.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from harness import atomic
from harness.record import line_kind

_DATE = re.compile(r"^\s*(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d)")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB(?: \(lfb (\d+)x(\d+)MB\))?")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB(?: \(cached (\d+)MB\))?")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_ENGINE = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)?%?@\[?([\d,]+)\]?|\b(GR3D_FREQ) (\d+)%")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]+) (\d+)mW((?:/\d+mW)*)")
# "tj@45.9C"; newer builds print "tj@42.0/41.6C" (current first): keep the current value.
_TEMP = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)(?:/-?\d+(?:\.\d+)?)*C\b")
_PLAIN = re.compile(r"\b([A-Z][A-Z0-9_]+) (\d+)\b(?![%@/mM])")
ABSENT_SENSOR_C = -256.0


def _cpu_cores(body: str) -> list[dict[str, float] | None]:
    cores: list[dict[str, float] | None] = []
    for item in body.split(","):
        item = item.strip()
        if not item or item == "off":
            cores.append(None)
            continue
        load, _, freq = item.partition("@")
        core = {"load_pct": float(load.rstrip("%"))} if load.rstrip("%") else {}
        if freq:
            core["freq_mhz"] = float(freq)
        cores.append(core)
    return cores


def parse_tegrastats(line: str) -> dict[str, Any]:
    """One tegrastats line as a flat-ish dict (MB, %, MHz, Celsius, mW in the key names)."""
    rest = line.strip()
    out: dict[str, Any] = {"source": "tegrastats"}

    def take(pattern: re.Pattern[str]) -> list[re.Match[str]]:
        nonlocal rest
        found = list(pattern.finditer(rest))
        rest = pattern.sub(" ", rest)
        return found

    if m := next(iter(take(_DATE)), None):
        out["board_time"] = m.group(1)
    if m := next(iter(take(_RAM)), None):
        out["ram_used_mb"], out["ram_total_mb"] = int(m.group(1)), int(m.group(2))
        if m.group(3):
            out["lfb_blocks"], out["lfb_block_mb"] = int(m.group(3)), int(m.group(4))
    if m := next(iter(take(_SWAP)), None):
        out["swap_used_mb"], out["swap_total_mb"] = int(m.group(1)), int(m.group(2))
        if m.group(3):
            out["swap_cached_mb"] = int(m.group(3))
    if m := next(iter(take(_CPU)), None):
        cores = _cpu_cores(m.group(1))
        out["cpu"] = cores
        loads = [c["load_pct"] for c in cores if c and "load_pct" in c]
        out["cpu_load_pct"] = sum(loads) / len(loads) if loads else None
    engines: dict[str, dict[str, Any]] = {}
    for m in take(_ENGINE):
        if m.group(4):  # "GR3D_FREQ 0%" with no frequency (Orin, JetPack 6)
            engines[m.group(4)] = {"load_pct": float(m.group(5))}
            continue
        eng: dict[str, Any] = {"freq_mhz": [float(f) for f in m.group(3).split(",") if f]}
        if m.group(2):
            eng["load_pct"] = float(m.group(2))
        engines[m.group(1)] = eng
    rails = {}
    for m in take(_RAIL):
        values = [int(m.group(2))] + [int(v) for v in re.findall(r"/(\d+)mW", m.group(3))]
        rails[m.group(1)] = values
    temps = {}
    for m in take(_TEMP):
        value = float(m.group(2))
        temps[m.group(1)] = None if value <= ABSENT_SENSOR_C else value
    for m in take(_PLAIN):  # "VIC_FREQ 115", "APE 150": a frequency with no load
        engines[m.group(1)] = {"freq_mhz": [float(m.group(2))]}
    if gpu := engines.get("GR3D_FREQ"):
        out["gpu_load_pct"] = gpu.get("load_pct")
        out["gpu_freq_mhz"] = gpu.get("freq_mhz")
    out["engines"] = engines
    out["temps_c"] = temps
    out["power_mw"] = rails
    out["unknown"] = rest.split()
    return out


def psutil_sample() -> dict[str, Any]:
    """The same keys from psutil/procfs on a host with no tegrastats."""
    import psutil

    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    loads = psutil.cpu_percent(percpu=True)
    freqs = psutil.cpu_freq(percpu=True) or []
    cores = [
        {"load_pct": load, **({"freq_mhz": freqs[i].current} if i < len(freqs) else {})}
        for i, load in enumerate(loads)
    ]
    temps: dict[str, float | None] = {}
    for name, entries in (getattr(psutil, "sensors_temperatures", dict)() or {}).items():
        for i, entry in enumerate(entries):
            temps[entry.label or f"{name}{i}"] = entry.current
    return {
        "source": "psutil",
        "ram_used_mb": (vm.total - vm.available) // 2**20,
        "ram_total_mb": vm.total // 2**20,
        "swap_used_mb": sw.used // 2**20,
        "swap_total_mb": sw.total // 2**20,
        "cpu": cores,
        "cpu_load_pct": sum(loads) / len(loads) if loads else None,
        "temps_c": temps,
    }


def docker_stats_sample(stats: dict[str, Any]) -> dict[str, Any]:
    """One frame of the engine's stats stream for a container (a remote board's engine)."""
    mem = stats.get("memory_stats") or {}
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0)
    used -= (pre.get("cpu_usage") or {}).get("total_usage", 0)
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cores = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    out: dict[str, Any] = {"source": "docker-stats"}
    if "usage" in mem:
        out["ram_used_mb"] = mem["usage"] // 2**20
    if mem.get("limit"):
        out["ram_limit_mb"] = mem["limit"] // 2**20
    # The container's CPU as a share of the whole machine (100 = every core busy).
    out["cpu_load_pct"] = round(100.0 * used / system, 1) if system > 0 and used >= 0 else None
    out["cpus"] = cores or None
    if (pids := (stats.get("pids_stats") or {}).get("current")) is not None:
        out["pids"] = pids
    return out


class Sampler:
    """Samples telemetry every `interval_s` in a thread.

    Sources: `tegrastats` (the binary is on this host: pytest runs on the board), `psutil`
    (this host), or `docker-stats` (the engine's stats stream for one container: a remote
    engine, where this host's figures would describe the wrong machine). `auto` picks
    tegrastats when present, else psutil.
    """

    def __init__(
        self, interval_s: float = 0.5, source: str = "auto", container: Any = None
    ) -> None:
        if source == "auto":
            source = "tegrastats" if shutil.which("tegrastats") else "psutil"
        self.source = source
        self.container = container
        self.interval_s = interval_s
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._t0 = 0.0

    def _add(self, sample: dict[str, Any]) -> None:
        self.samples.append({"t_s": round(time.monotonic() - self._t0, 3), **sample})

    def _loop_psutil(self) -> None:
        import psutil

        psutil.cpu_percent(percpu=True)  # the first call only sets the baseline
        stopped = False
        while not stopped:
            stopped = self._stop.wait(self.interval_s)
            # the last sample covers the tail since the one before: a run shorter than the
            # interval still says what the device was doing
            self._add(psutil_sample())

    def _loop_tegrastats(self) -> None:
        cmd = ["tegrastats", "--interval", str(int(self.interval_s * 1000))]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if self._stop.is_set():
                break
            self._add(parse_tegrastats(line))

    def _loop_docker_stats(self) -> None:
        try:
            for frame in self.container.stats(stream=True, decode=True):
                if self._stop.is_set():
                    break
                if frame.get("read", "").startswith("0001-"):  # the container has ended
                    break
                self._add(docker_stats_sample(frame))
        except Exception:  # the container went away mid-stream: the samples so far stand
            return

    def __enter__(self) -> Sampler:
        self._t0 = time.monotonic()
        loop = {
            "tegrastats": self._loop_tegrastats,
            "docker-stats": self._loop_docker_stats,
        }.get(self.source, self._loop_psutil)
        self._thread = threading.Thread(target=loop, name="telemetry", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout=5)


def merge_into_record(path: Path, samples: list[dict[str, Any]]) -> int:
    """Insert `telemetry/sample` events just before the record's end line; returns how many.

    The runner does this before the host classifies the record, so the latency gate sees what
    the device was doing. A record with no end line is left untouched (it is infra-error
    evidence as it is); the samples always go to `telemetry.jsonl` beside it too.
    """
    if not samples:
        return 0
    head = {"kind": "event", "stage": "telemetry", "type": "sample"}
    events = [json.dumps({**head, **s}, separators=(",", ":")) + "\n" for s in samples]
    path.with_name("telemetry.jsonl").write_text("".join(events), encoding="utf-8")
    if not path.exists():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    ends = [  # parse only the lines that can be the end line: a long record has 10^4 events
        i
        for i, ln in enumerate(lines)
        if '"end"' in ln and ln.endswith("\n") and line_kind(ln) == "end"
    ]
    if not ends:
        return 0
    atomic.write_text(path, "".join(lines[: ends[0]] + events + lines[ends[0] :]))
    return len(events)
