"""What a foreign stack writes on stdout (stack output, version 2) and how each line becomes
the run-record event the reference stack's stages emit, so the same gates judge it.

One JSON object per line, told apart by `type`. The models here are the one source of the
published JSON Schema (`stack-output.v2.schema.json`, checked by a test). Version 2 makes the
harness count the evidence: every answer names its frame (causality is checked on each), and
a query hands over its descriptor itself, whose figures the harness measures. Version 1 output
is refused with a message naming what to change. Ground truth is not read here: the run driver
records it after the stack has run, for the gates alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from harness.clip import Clip, TileCorpus
from harness.errors import StackError
from harness.run.measured import figures, spread

OUTPUT_VERSION = 2
SCHEMA_NAME = f"stack-output.v{OUTPUT_VERSION}.schema.json"
Num = float | None  # JSON null stands for a non-finite value


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ready(_Line):
    """The stack has loaded what it needs: the frame clock starts now. Once, before any
    answer to a frame; `name` and `version` go into the record."""

    type: Literal["ready"]
    name: str | None = None
    version: str | None = None


class Check(_Line):
    """A provisioning check the stack ran on itself (weights found, engine built, ...)."""

    type: Literal["check"]
    check: str
    ok: bool
    detail: str = ""


class TileHit(_Line):
    tile: str  # a tile id of the input corpus
    score: float


class Descriptor(_Line):
    """The query descriptor itself: the harness measures its shape, finiteness, norm and the
    spread of all of them (the vpr-contract gate judges those figures, never a claim)."""

    dtype: Literal["float16", "float32", "float64"]
    shape: list[Annotated[int, Field(gt=0)]] = Field(min_length=1)
    data: str  # base64 of the values' little-endian bytes, C order


class Query(_Line):
    """One retrieval: the frame, its best tiles (best first), the descriptor's figures."""

    type: Literal["query"]
    frame: int = Field(ge=0)
    t_s: float
    topk: list[TileHit]
    descriptor: Descriptor | None = None


class Fix(_Line):
    """A horizontal position fix offered to the filter, stamped with its image's time."""

    type: Literal["fix"]
    t_s: float
    frame: int = Field(ge=0)
    z_ne_m: tuple[Num, Num]
    sigma_m: float = Field(gt=0)
    source: str = "stack"
    accepted: bool = True
    nis: Num = None
    innovation_m: Num = None


class State(_Line):
    """The filter's estimate (at least 10 Hz): NED position, covariance of north/east."""

    type: Literal["state"]
    t_s: float
    frame: int = Field(ge=0)  # the newest frame this estimate has used
    p_ned_m: tuple[Num, Num, Num]
    v_ned_m_s: tuple[Num, Num, Num] | None = None
    q_wxyz: tuple[Num, Num, Num, Num] | None = None  # body -> world, w first
    P_hh: tuple[tuple[Num, Num], tuple[Num, Num]]
    sigma_yaw_deg: Num = None  # with q_wxyz: the heading block is judged too
    numerical: str | None = None  # the stack's own report of a numerical failure


class Reset(_Line):
    """The filter snapped its horizontal position to a fix."""

    type: Literal["reset"]
    t_s: float
    from_ne_m: tuple[Num, Num]
    to_ne_m: tuple[Num, Num]


StackLine = Annotated[Ready | Check | Query | Fix | State | Reset, Field(discriminator="type")]
LINE = TypeAdapter(StackLine)


def json_schema() -> dict[str, Any]:
    """The published schema of one stdout line."""
    schema = LINE.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_NAME,
        "title": f"harness stack output, version {OUTPUT_VERSION}: one JSON object per line",
        **schema,
    }


# What changed since stack output v1, by the field an old line gets wrong: the fix to name.
V1_HINTS = {
    "frame": "since stack output v2 every query, fix and state line names its `frame` (the "
    "newest frame it used)",
    "data": "since stack output v2 a query hands over its descriptor: `data` is the base64 of "
    "its little-endian bytes, with `dtype` and `shape`",
    "finite": "since stack output v2 the harness measures finiteness and norm from the "
    "descriptor's `data`: drop `finite` and `norm`",
    "norm": "since stack output v2 the harness measures finiteness and norm from the "
    "descriptor's `data`: drop `finite` and `norm`",
}


def problems(obj: Any) -> list[tuple[str, str, str]]:
    """Every way one decoded line is off the schema: (field, what is wrong, the change to
    make where an old, version 1 line gets it wrong, else ""); [] for a valid line."""
    try:
        LINE.validate_python(obj)
    except ValidationError as exc:
        out = []
        for error in exc.errors():
            path = ".".join(str(p) for p in error["loc"]) or "(line)"
            hint = next((V1_HINTS[str(p)] for p in error["loc"][::-1] if str(p) in V1_HINTS), "")
            out.append((path, error["msg"], hint))
        return out
    return []


def parse(number: int, text: str) -> Ready | Check | Query | Fix | State | Reset:
    """One stdout line, or a StackError naming the line, the field and what to change."""
    where = f"stack output line {number}"
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise StackError(
            f"{where}: not JSON ({exc.msg} at column {exc.colno}): {text[:120]!r}; "
            "write one complete JSON object per line (schema: harness/process/"
            f"{SCHEMA_NAME})"
        ) from None
    if found := problems(obj):
        field, what, hint = found[0]
        raise StackError(
            f"{where}: {field}: {what} (got {text[:120]!r}); "
            f"{hint + '; ' if hint else ''}see docs/adapters.md and harness/process/{SCHEMA_NAME}"
        )
    return LINE.validate_python(obj)


def decode_descriptor(desc: Descriptor) -> np.ndarray:
    """The descriptor a query hands over; ValueError saying why its data does not decode to
    the shape and dtype it states."""
    try:
        raw = base64.b64decode(desc.data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64 (RFC 4648, with padding)") from None
    dtype = np.dtype(desc.dtype).newbyteorder("<")
    want = math.prod(desc.shape) * dtype.itemsize
    if len(raw) != want:
        raise ValueError(
            f"{len(raw)} bytes, but shape {desc.shape} of {desc.dtype} is {want}; encode the "
            "values' little-endian bytes as the line's dtype states"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(desc.shape).astype(desc.dtype)


def descriptor_values(number: int, desc: Descriptor) -> np.ndarray:
    """`decode_descriptor`, or a StackError naming the output line."""
    try:
        return decode_descriptor(desc)
    except ValueError as exc:
        raise StackError(f"stack output line {number}: query.descriptor.data: {exc}") from None


class Translator:
    """Turns parsed lines into record events: tile geometry joined, causality checked on
    every answer, descriptor figures measured."""

    def __init__(self, clip: Clip, corpus: TileCorpus, name: str, emit) -> None:
        self.clip, self.corpus, self.name, self.emit = clip, corpus, name, emit
        self.frame_t = np.asarray(clip.frames.t_s, dtype=float)
        self.tile_index = {tid: i for i, tid in enumerate(corpus.ids)}
        self.descriptors: list[np.ndarray] = []

    def _causal(self, number: int, item: Query | Fix | State, released: bool) -> bool:
        """False (and a flag in the record) when the line breaks causality."""
        frame, t_s = item.frame, item.t_s
        if frame >= len(self.frame_t):
            raise StackError(
                f"stack output line {number}: frame {frame} does not exist (the clip has "
                f"{len(self.frame_t)} frames, 0 .. {len(self.frame_t) - 1})"
            )
        frame_t = float(self.frame_t[frame])
        why = None
        if t_s < frame_t - 1e-6:
            why = f"{item.type} stamped t={t_s:.3f} s, before its frame {frame} (t={frame_t:.3f} s)"
        elif not released:
            why = f"{item.type} written before frame {frame} was released to the stack"
        if why:
            self.emit(
                "vpr",
                "causality",
                line=number,
                answer=item.type,
                frame=frame,
                t_s=t_s,
                frame_t_s=frame_t,
                reason=why,
            )
        return why is None

    def line(self, number: int, item: StackLine, released: bool, latency_ms: float | None) -> None:
        """Record one line; `latency_ms` is its arrival after its frame's release."""
        if isinstance(item, (Query, Fix, State)) and not self._causal(number, item, released):
            latency_ms = None  # no latency for an answer that came before its question
        if isinstance(item, Ready):
            self.emit("process", "ready", name=item.name, version=item.version, line=number)
        elif isinstance(item, Check):
            self.emit(
                "provisioning",
                "check",
                backbone=self.name,
                check=item.check,
                ok=item.ok,
                detail=item.detail,
            )
        elif isinstance(item, Query):
            self.emit("vpr", "query", **self._query(number, item), latency_ms=latency_ms)
        elif isinstance(item, Fix):
            self.emit("eskf", "fix", **item.model_dump(exclude={"type"}))
            if latency_ms is not None:
                self.emit(
                    "latency", "sample", stage_name=self.name, ms=latency_ms, frame=item.frame
                )
        elif isinstance(item, State):
            self.emit("eskf", "state", **self._state(item))
        else:
            self.emit("eskf", "reset", t_s=item.t_s, from_ne_m=item.from_ne_m, to_ne_m=item.to_ne_m)

    def close(self) -> None:
        """After the stack's last line: the spread of every descriptor it handed over."""
        if (fields := spread(self.descriptors)) is not None:
            self.emit("vpr", "spread", **fields)

    def _query(self, number: int, item: Query) -> dict[str, Any]:
        topk = []
        for hit in item.topk:
            j = self.tile_index.get(hit.tile)
            if j is None:
                raise StackError(
                    f"stack output line {number}: tile {hit.tile!r} is not in the "
                    f"{self.corpus.kind} corpus of the stack input (ids like "
                    f"{self.corpus.ids[0]!r}); name tiles as stack.txt does"
                )
            topk.append(
                {
                    "tile": hit.tile,
                    "score": hit.score,
                    "centre_ne_m": self.corpus.centres_ne_m[j],
                    "footprint_ne_m": self.corpus.footprints_ne_m[j],
                }
            )
        out = {"frame": item.frame, "t_s": item.t_s, "topk": topk}
        if item.descriptor is not None:
            values = descriptor_values(number, item.descriptor)
            self.descriptors.append(values)
            out["descriptor"] = figures(values)
        return out

    def _state(self, item: State) -> dict[str, Any]:
        p_hh = np.array(item.P_hh, dtype=float)
        out = item.model_dump(exclude={"type", "frame"})
        # A null trace (a non-finite covariance) stays null: D0 judges it.
        trace = float(np.trace(p_hh))
        out["eph_m"] = math.sqrt(max(trace, 0.0)) if math.isfinite(trace) else None
        # Without an attitude and its sigma, heading is not judged (NaN in the gate).
        if item.q_wxyz is None or item.sigma_yaw_deg is None:
            out["q_wxyz"], out["sigma_yaw_deg"] = None, None
        return out


if __name__ == "__main__":  # python -m harness.process.protocol > harness/process/<SCHEMA_NAME>
    print(json.dumps(json_schema(), indent=2))
