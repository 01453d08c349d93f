"""The reference pipeline end to end on a 10 s stand-in with a small checkpoint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.gates import conclude
from harness.record import read_record
from harness.reference.models.scaffold import make_scaffold
from harness.run.driver import run
from tests.helpers import TINY, TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]


def _scenario(
    project: pytest.Pytester, name: str, vpr: str, gates: str, pin: str | None = None
) -> Path:
    sha = make_scaffold(project.path / "models" / "tiny.pt", **TINY)
    text = f"""\
format_version: 1
name: {name}
config: configs/operator_replay.yaml
{TINY_OVERRIDES}  c10_provisioning.backbones.0.sha256: {sha if pin else "null"}
clip:
  synth: {{preset: derkachi-10s, seed: 3}}
vpr: {vpr}
gates: {gates}
expect: pass
"""
    return project.makefile(".scenario.yaml", **{name: text})


def test_netvlad_run_records_queries_and_reaches_a_product_gate(project: pytest.Pytester) -> None:
    path = _scenario(
        project,
        "nv",
        "{strategy: netvlad, rate_hz: 2, input_px: 64}",
        "{vpr_contract: {descriptor_dim: 64}, retrieval_quality: {min_queries: 10}, "
        "eskf_divergence: {warmup_s: 3, min_states: 30}}",
    )
    verdict = conclude(
        run(path, project.path / "out", root=project.path, cache_dir=REPO / ".cache")
    )
    record = read_record(project.path / "out" / "record.jsonl")
    queries = list(record.select("vpr", "query"))
    assert len(queries) >= 19 and len(queries[0]["topk"]) == 5
    assert queries[0]["descriptor"]["shape"] == [1, 64] and queries[0]["descriptor"]["finite"]
    assert record.provenance["clip_hash"] and record.provenance["corpus_hash"]
    assert list(record.select("eskf", "fix")), "the fixes reached the filter"
    assert verdict.gate in ("retrieval-quality", "eskf-divergence", "pass"), verdict


def test_oracle_run_passes_through_the_filter(project: pytest.Pytester) -> None:
    path = _scenario(
        project,
        "or",
        "{strategy: oracle, oracle: {sigma_m: 10, seed: 2}}",
        "{retrieval_quality: {applies: false}, "
        "eskf_divergence: {sigma_vpr_m: 10, warmup_s: 3, min_states: 30, min_fixes: 5}}",
    )
    verdict = conclude(
        run(path, project.path / "out", root=project.path, cache_dir=REPO / ".cache")
    )
    assert verdict.gate == "pass", verdict
    assert verdict.metrics["eskf-divergence"]["rmse_m"] < 10


def test_the_untrained_scaffold_stops_at_retrieval_quality_under_the_default_bar(
    project: pytest.Pytester,
) -> None:
    """No retrieval bar in the scenario: the reference's (recall@1, footprint, 0.80) judges.
    The checkpoint is not pinned, so the verdict says so; pinned, the warning is gone."""
    gates = "{vpr_contract: {descriptor_dim: 64}, eskf_divergence: {warmup_s: 3}}"
    vpr = "{strategy: netvlad, rate_hz: 4, input_px: 64}"
    path = _scenario(project, "defaults", vpr, gates)
    verdict = conclude(
        run(path, project.path / "out", root=project.path, cache_dir=REPO / ".cache")
    )
    assert verdict.gate == "retrieval-quality", verdict
    assert verdict.reason.startswith("recall@1 (footprint) "), verdict.reason
    assert re.search(r"< 0\.80 (\(recall@5 [\d.]+\) )?over", verdict.reason), verdict.reason
    (warning,) = verdict.metrics["warnings"]
    assert "unpinned checkpoint models/tiny.pt" in warning and "harness provision pin" in warning
    prov = read_record(project.path / "out" / "record.jsonl").provenance
    assert prov["checkpoint_pinned"] is False and prov["unpinned"] == ["models/tiny.pt"]

    pinned = _scenario(project, "pinned", vpr, gates, pin="yes")
    verdict = conclude(
        run(pinned, project.path / "out2", root=project.path, cache_dir=REPO / ".cache")
    )
    assert verdict.gate == "retrieval-quality" and "warnings" not in verdict.metrics
    assert read_record(project.path / "out2" / "record.jsonl").provenance["checkpoint_pinned"]
