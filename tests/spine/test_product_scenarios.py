"""The product's own scenarios say what they judge: every one that runs a stack past
provisioning carries a latency budget (the replay host's figures, docs/pipeline.md "Latency
budgets"), or its description says why not."""

from __future__ import annotations

from pathlib import Path

from harness.gates.latency import LatencyBudgetSpec
from harness.scenario.load import discover, load

REPO = Path(__file__).resolve().parents[2]


def test_every_product_scenario_carries_a_latency_budget_or_says_why_not() -> None:
    lacking = []
    for path in discover([REPO / "scenarios"]):
        scenario = load(path, REPO).scenario
        budget: LatencyBudgetSpec = scenario.gates.latency_budget
        if budget.empty and "latency budget" not in scenario.description.lower():
            lacking.append(path.relative_to(REPO).as_posix())
    assert not lacking, f"no latency budget and no word on why: {lacking}"
