"""`harness clip inspect`: a bundle's streams, rates, duration, gaps, conventions and hashes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.clip.model import Clip


@dataclass(frozen=True)
class StreamSummary:
    name: str
    samples: int
    rate_hz: float | None
    span_s: tuple[float, float] | None
    gaps: list[tuple[float, float]] = field(
        default_factory=list
    )  # (at_s, length_s) over 3x median dt


@dataclass(frozen=True)
class ClipSummary:
    name: str
    content_hash: str
    duration_s: float
    origin: tuple[float, float, float]
    conventions: dict
    streams: list[StreamSummary]
    ground_truth: str
    corpora: dict
    faults: list

    def lines(self) -> list[str]:
        out = [
            f"clip      {self.name}",
            f"hash      {self.content_hash}",
            f"duration  {self.duration_s:.3f} s",
            "origin    {:.7f} N {:.7f} E {:.2f} m".format(*self.origin),
            "conventions " + ", ".join(f"{k}={v}" for k, v in self.conventions.items()),
            f"truth     {self.ground_truth}",
        ]
        for s in self.streams:
            rate = f"{s.rate_hz:.2f} Hz" if s.rate_hz else "-"
            span = f"[{s.span_s[0]:.3f}, {s.span_s[1]:.3f}] s" if s.span_s else "absent"
            gaps = "; ".join(f"{g[1]:.3f} s at {g[0]:.3f} s" for g in s.gaps[:5]) or "none"
            more = f" (+{len(s.gaps) - 5} more)" if len(s.gaps) > 5 else ""
            out.append(
                f"stream    {s.name:7s} {s.samples:7d} samples  {rate:>11s}  "
                f"{span}  gaps: {gaps}{more}"
            )
        for kind, entry in self.corpora.items():
            out.append(
                f"corpus    {kind:10s} {entry.get('tiles', '?')} tiles  "
                f"hash {entry.get('content_hash')}"
            )
        if self.faults:
            out.append("faults    " + "; ".join(str(f) for f in self.faults))
        return out


def _stream(name: str, t: np.ndarray) -> StreamSummary:
    if len(t) == 0:
        return StreamSummary(name, 0, None, None)
    if len(t) == 1:
        return StreamSummary(name, 1, None, (float(t[0]), float(t[0])))
    dt = np.diff(t)
    med = float(np.median(dt))
    gaps = [(float(t[i]), float(dt[i])) for i in np.flatnonzero(dt > 3 * med)]
    return StreamSummary(name, len(t), 1 / med, (float(t[0]), float(t[-1])), gaps)


def summarise(clip: Clip) -> ClipSummary:
    m = clip.manifest
    streams = [
        _stream("imu", clip.imu.t_s),
        _stream("truth", clip.truth.t_s if clip.truth else np.zeros(0)),
        _stream("frames", clip.frames.t_s),
        _stream("telemetry", clip.telemetry.t_s if clip.telemetry else np.zeros(0)),
    ]
    return ClipSummary(
        name=m.get("name", "?"),
        content_hash=clip.content_hash,
        duration_s=clip.duration_s,
        origin=clip.origin.as_tuple(),
        conventions=m["conventions"],
        streams=streams,
        ground_truth=str(m.get("ground_truth", clip.truth is not None))
        if clip.truth is not None
        else "none (unverified)",
        corpora=m.get("corpus", {}),
        faults=m.get("faults", []),
    )
