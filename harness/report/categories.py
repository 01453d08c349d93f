"""Allure's categories.json, generated from the gate taxonomy: one category per gate.

Allure matches `messageRegex` against the WHOLE message (Java `matches`) and the first
matching category wins, so the broken runs come first, then no-data, then the ladder.
The messages are the plugin's ratchet messages as harness.report.allure_story rewrites them:
"as expected: G: why" (an expected stop, status passed, or skipped for empty-backbones; first,
one category per gate), "regression: stopped at G, ...", "gate moved forward: raise expect to
G ...". Messages as allure-pytest wrote them (prefixed by the exception's class, `Skipped:` or
`XFAIL`) still match, should a result not be rewritten.
"""

from __future__ import annotations

import re
from typing import Any

from harness.gates import BROKEN, LADDER, NO_DATA

DESCRIPTIONS = {
    "infra-error": "The run itself broke (runner, container, crash, timeout): no product verdict.",
    "config-error": "The scenario or operator config is unusable: no product verdict.",
    NO_DATA: "A gate had too little evidence to judge: a failure, never a silent pass.",
    "empty-backbones": "Nothing provisioned: the stack lists no backbone (SKIP).",
    "provisioning": "Checkpoint missing, sha256 mismatch, strict load or engine build failed.",
    "vpr-contract": "Descriptor shape/dtype/finite/normalised contract broken, or collapsed.",
    "retrieval-quality": "recall@N within R metres below the scenario's bar.",
    "eskf-divergence": "The filter is inconsistent or its error leaves the budget.",
    "latency-budget": "Per-frame latency over budget on the target device.",
    "pass": "Every gate passed (listed here only when that was not expected yet).",
}


def gate_regex(gate: str) -> str:
    g = re.escape(gate)
    return rf"(?s).*(?:stopped at {g},|raise expect to {g} |(?:^|XFAIL |: ){g}: ).*"


def categories() -> list[dict[str, Any]]:
    """The ordered category list for allure-results/categories.json."""
    expected = [g for g in (*BROKEN, NO_DATA, *LADDER) if g != "pass"]
    out: list[dict[str, Any]] = [
        {
            "name": f"as expected: {gate}",
            "description": f"Stopped where the scenario expects. {DESCRIPTIONS[gate]}",
            "matchedStatuses": ["passed", "skipped"],
            "messageRegex": rf"(?s)as expected: {re.escape(gate)}: .*",
        }
        for gate in expected
    ]
    out += [
        {
            "name": f"{gate} (no verdict)",
            "description": DESCRIPTIONS[gate],
            "matchedStatuses": ["broken", "failed", "skipped"],
            "messageRegex": rf"(?s)(?:(?:[\w.]+: )?{re.escape(gate)}: .*"
            + (r"|.*runner unavailable: .*)" if gate == "infra-error" else ")"),
        }
        for gate in BROKEN
    ]
    out.append(
        {
            "name": f"{NO_DATA} (failure)",
            "description": DESCRIPTIONS[NO_DATA],
            "matchedStatuses": ["failed", "broken"],
            "messageRegex": rf"(?s)(?:[\w.]+: )?{NO_DATA}: .*",
        }
    )
    for gate in LADDER:
        out.append(
            {
                "name": f"gate: {gate}",
                "description": DESCRIPTIONS[gate],
                "matchedStatuses": ["failed", "broken", "skipped"],
                "messageRegex": gate_regex(gate),
            }
        )
    out.append(
        {
            "name": "harness bug (no gate)",
            "description": "Broken without a gate: an error in the framework itself.",
            "matchedStatuses": ["broken"],
        }
    )
    return out
