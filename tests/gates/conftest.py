"""Real run records for the gate tests: written once per session by the run driver itself.

Every gate test and the record fuzzer start from what the reference pipeline really writes
(a tiny NetVLAD on the 10 s stand-in, the oracle through the filter, an empty config), never
from hand-made shapes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.gates import conclude
from harness.run.driver import run
from tests.helpers import TINY_OVERRIDES, tiny_project

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = {
    "oracle": (
        "vpr: {strategy: oracle, oracle: {sigma_m: 10, seed: 2}}\n"
        "gates: {retrieval_quality: {applies: false}, eskf_divergence: {sigma_vpr_m: 10, "
        "warmup_s: 3, min_states: 30, min_fixes: 5}, "
        "latency_budget: {stages: {eskf: {p95_ms: 1000, min_samples: 5}}}}\n"
    ),
    "netvlad": (
        "vpr: {strategy: netvlad, rate_hz: 2, input_px: 64}\n"
        "gates: {retrieval_quality: {recall_at: 5, min_queries: 10, min_recall: 0.0}, "
        "eskf_divergence: {warmup_s: 3, min_states: 30, min_fixes: 1, sigma_vpr_m: 200}}\n"
    ),
    "empty": "",
}


def _text(name: str, body: str) -> str:
    overrides = (
        TINY_OVERRIDES if name != "empty" else ("overrides:\n  c10_provisioning.backbones: []\n")
    )
    return (
        f"format_version: 1\nname: {name}\nconfig: configs/operator_replay.yaml\n{overrides}"
        f"clip:\n  synth: {{preset: derkachi-10s, seed: 3}}\n{body}expect: pass\n"
    )


@pytest.fixture(scope="session")
def real_records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> a record.jsonl the run driver wrote and the host concluded."""
    root = tmp_path_factory.mktemp("project")
    tiny_project(root)
    out = {}
    for name, body in SCENARIOS.items():
        scenario = root / f"{name}.scenario.yaml"
        scenario.write_text(_text(name, body))
        record = run(scenario, root / "runs" / name, root=root, cache_dir=REPO / ".cache")
        conclude(record)
        out[name] = record
    return out
