"""A scenario's Allure result rewritten to tell its gate story, once allure-pytest wrote it.

allure-pytest maps pytest outcomes to Allure statuses: an expected stop (pytest's xfail) becomes
"skipped", so a suite in which every scenario did exactly what it should reads "0 %" and its
trend shows nothing but skips; messages start with the exception's class
(`harness.pytest.items.GateFailure: ...`); the `gates:` step is green although its stopping
sub-step failed. After the result file is written, this module rewrites it (the documented
result format only, found by its `run folder` parameter as late pictures are):

- an expected stop (pytest's xfail, and the empty-backbones SKIP) is `passed` with the
  message "as expected: GATE: why" and the tag `as expected` (counted as success in the
  overview and the trend; a category per gate says which);
- a moved gate stays failed (tag `regression`, or `moved forward` / `unexpected pass`), a
  broken run stays broken; messages carry the verdict's words, no class names, no trace;
- every step's status is its worst sub-step's, and step messages lose class prefixes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness import atomic

AS_EXPECTED = "as expected"
# pytest outcome (harness.gates.expectation.Decision) -> Allure status
STATUS = {
    "passed": "passed",
    "xfailed": "passed",
    "skipped": "passed",
    "failed": "failed",
    "broken": "broken",
}
_CLASS_PREFIX = re.compile(r"^(?:[A-Za-z_][\w]*\.)+[A-Za-z_]\w*: ")


def story(outcome: str, message: str) -> tuple[str, str, str | None]:
    """(Allure status, message, tag) of a scenario whose pytest outcome and ratchet message
    are these."""
    status = STATUS.get(outcome, "broken")
    if outcome in ("xfailed", "skipped"):
        # "no-data as expected: why" (an honesty scenario) reads as every other expected stop
        message = re.sub(r"^([\w-]+) as expected: ", r"\1: ", message)
        return status, f"{AS_EXPECTED}: {message}", AS_EXPECTED
    if outcome == "failed" and message.startswith("gate moved forward: raise expect to pass"):
        return status, message, "unexpected pass"
    if outcome == "failed" and message.startswith("gate moved forward"):
        return status, message, "moved forward"
    if outcome == "failed" and message.startswith("regression"):
        return status, message, "regression"
    return status, message, None


def rewrite(result: Path, outcome: str, message: str) -> None:
    """Rewrite one result file (atomically) to tell its story; raises OSError/ValueError when
    the file is not a result as written."""
    data = json.loads(result.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{result}: not an Allure result")
    status, text, tag = story(outcome, message)
    data["status"] = status
    data["statusDetails"] = {"message": text}
    labels = data.setdefault("labels", [])
    if tag is not None and {"name": "tag", "value": tag} not in labels:
        labels.append({"name": "tag", "value": tag})
    for step in data.get("steps") or []:
        _settle(step)
    atomic.write_text(result, json.dumps(data))


def _settle(step: dict[str, Any]) -> str:
    """A step shown failed (or broken) when a sub-step is; class prefixes dropped from its
    message. A stage the run never reached stays skipped (grey)."""
    details = step.get("statusDetails")
    if isinstance(details, dict) and isinstance(details.get("message"), str):
        details["message"] = _CLASS_PREFIX.sub("", details["message"])
        details.pop("trace", None)
    below = {_settle(sub) for sub in step.get("steps") or [] if isinstance(sub, dict)}
    for bad in ("broken", "failed"):
        if bad in below and step.get("status") != "broken":
            step["status"] = bad
            break
    return step.get("status") or "passed"
