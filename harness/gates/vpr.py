"""The vpr-contract gate: every query descriptor has the promised shape, dtype, finiteness, norm.

The descriptor size is the scenario's `descriptor_dim`, else the one the stack's configuration
provisions (its `provisioning/backbones` event), not a constant; descriptors are float32
(what the onboard index holds). The figures are measured from the descriptors themselves (by
the reference stage, or by the process adapter from the values a stack hands over), never
taken from a stack's claim. Non-finite descriptors are a FAIL that says so, and so is a query
without a descriptor among described ones; too few described queries is no-data. An answer
stamped before its frame (any query, fix or state of a process stack) fails here first.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from harness.gates.fields import Malformed, number, text
from harness.gates.result import GateResult, GateSpec, spec_of
from harness.record import Record

DEFAULT_DESCRIPTOR_DIM = 4096  # the upstream NetVLAD-VGG16 with its 4096-d PCA


class VprContractSpec(GateSpec):
    applies: bool = True  # false: a stack that makes no descriptors (the reference's oracle)
    descriptor_dim: int | None = Field(None, gt=0)  # None: the provisioned backbone's
    dtypes: tuple[str, ...] = ("float32",)
    norm_tol: float = Field(1e-2, gt=0)
    min_queries: int = Field(1, ge=1)
    # Query descriptors whose least similar pair is still this alike have collapsed.
    collapse_min_cosine: float = Field(0.9999, gt=0, le=1)


def configured_dim(record: Record) -> int:
    """The descriptor size the stack's configuration provisions (`descriptor_dim` of its last
    `provisioning/backbones` event); the upstream 4096 when it names none."""
    for ev in reversed(list(record.select("provisioning", "backbones"))):
        dim = ev.get("descriptor_dim")
        if isinstance(dim, int) and not isinstance(dim, bool):
            return dim
    return DEFAULT_DESCRIPTOR_DIM


def _broken(record: Record, q: dict[str, Any], dim: int, spec: VprContractSpec) -> str | None:
    """Why one query's descriptor breaks the contract, or None."""
    at = f"frame {text(q, 'frame')}"
    d = q.get("descriptor")
    if d is None:
        return f"{at}: no descriptor handed over, nothing to measure"
    if not isinstance(d, dict):
        raise Malformed(f"{record.where(q)}: vpr/query field 'descriptor' is not an object")
    shape = d.get("shape")
    sizes = isinstance(shape, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape
    )
    if not sizes or not shape or shape[-1] != dim:
        return f"{at}: shape {text(d, 'shape')}, expected (..., {dim}) from the backbone config"
    if d.get("dtype") not in spec.dtypes:
        return f"{at}: dtype {text(d, 'dtype')}, expected one of {', '.join(spec.dtypes)}"
    if d.get("finite") is not True:
        return f"{at}: non-finite values (NaN or inf) in the descriptor"
    norm = d.get("norm")
    if norm is not None and (isinstance(norm, bool) or not isinstance(norm, (int, float))):
        raise Malformed(f"{record.where(q)}: vpr/query field 'descriptor.norm' is not a number")
    if norm is None or not abs(norm - 1.0) <= spec.norm_tol:
        return f"{at}: norm {norm} not within 1±{spec.norm_tol:g}"
    return None


def check(record: Record) -> GateResult:
    spec = spec_of(record, "vpr_contract", VprContractSpec)
    # A stack run by the process adapter answered before its frame existed (harness.process).
    if breaches := list(record.select("vpr", "causality")):
        first, more = breaches[0], f" (+{len(breaches) - 1} more)" if len(breaches) > 1 else ""
        what = f"stack output line {first.get('line', '?')}: {first.get('reason', '?')}"
        reason = f"causality broken: {what}{more}"
        return GateResult("fail", reason, {"causality_breaches": len(breaches)})
    if not spec.applies:
        return GateResult("n/a", "the scenario declares this gate does not apply")
    dim = spec.descriptor_dim or configured_dim(record)
    queries = list(record.select("vpr", "query"))
    described = sum(q.get("descriptor") is not None for q in queries)
    if described < spec.min_queries:
        return GateResult(
            "no-data", f"{described} described queries < min_queries {spec.min_queries}"
        )
    broken = [why for q in queries if (why := _broken(record, q, dim, spec))]
    metrics: dict[str, Any] = {"queries": len(queries), "broken": len(broken), "dim": dim}
    for spread in record.select("vpr", "spread"):
        cosine = number(record, spread, "min_cosine", null_ok=True)
        metrics["min_cosine"] = cosine
        if not math.isfinite(cosine):  # the descriptors themselves were not finite
            broken.append(f"the spread of the query descriptors is not finite ({cosine})")
        elif cosine > spec.collapse_min_cosine:
            broken.append(
                f"descriptors collapsed: every pair of {text(spread, 'queries')} queries has "
                f"cosine >= {cosine:.6f} (> {spec.collapse_min_cosine}); check the "
                "encoder's initialisation or weights"
            )
    if broken:
        more = f" (+{len(broken) - 1} more)" if len(broken) > 1 else ""
        return GateResult("fail", f"descriptor contract broken: {broken[0]}{more}", metrics)
    return GateResult("pass", metrics=metrics)
