"""Allure retries: each attempt of a rerun scenario as one more result under its history id.

Allure groups results by `historyId`, shows the one that started last and lists the others
as its retries. At the session's end this writes one result file per attempt, copying the
scenario's own result (history id, labels, parameters; the run folder is the attempt's own)
and moving that result's start after the attempts, so the adjudicated result is the one shown
and each attempt is a retry.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from harness.report.allure_report import RUN_FOLDER
from harness.report.allure_story import STATUS


def find_result(results: Path, name: str, run_id: str) -> tuple[Path, dict[str, Any]]:
    """The scenario's own result file in this run (by title and the excluded `run id`)."""
    for path in sorted(results.glob("*-result.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        params = {p.get("name"): p.get("value") for p in data.get("parameters", [])}
        if data.get("name") == name and str(params.get("run id", "")).strip("'") == run_id:
            return path, data
    raise ValueError(f"{results}: no Allure result for scenario {name!r} in run {run_id}")


def write_retries(
    results: Path, name: str, run_id: str, attempts: list[dict[str, Any]]
) -> list[Path]:
    """One retry result per attempt; returns the files written."""
    main_path, main = find_result(results, name, run_id)
    written = []
    for a in attempts:
        start, stop = int(a["start"] * 1000), int(a["stop"] * 1000)
        uid = str(uuid.uuid4())
        status = STATUS.get(a["status"], "broken")
        result = {
            "uuid": uid,
            "historyId": main.get("historyId"),
            "testCaseId": main.get("testCaseId"),
            "fullName": main.get("fullName"),
            "name": main.get("name"),
            "status": status,
            "statusDetails": {"message": f"attempt {a['number']}: {a['gate']}: {a['reason']}"},
            "stage": "finished",
            "start": start,
            "stop": max(stop, start),
            "labels": main.get("labels", []),
            "parameters": [
                *(p for p in main.get("parameters", []) if p.get("name") != RUN_FOLDER),
                {"name": RUN_FOLDER, "value": a.get("out_dir", ""), "excluded": True},
                {"name": "attempt", "value": str(a["number"]), "excluded": True},
            ],
            "steps": [
                {
                    "name": f"gate: {a['gate']} ({a['status']})",
                    "status": status,
                    "stage": "finished",
                    "start": start,
                    "stop": max(stop, start),
                }
            ],
        }
        path = results / f"{uid}-result.json"
        path.write_text(json.dumps(result, indent=1), encoding="utf-8")
        written.append(path)
    last = max(int(a["stop"] * 1000) for a in attempts)
    main["start"] = max(main.get("start", 0), last + 1)
    main["stop"] = max(main.get("stop", 0), main["start"])
    main_path.write_text(json.dumps(main), encoding="utf-8")
    return written
