"""`harness bisect` over a small repository whose seventh commit moves a scenario's gate down."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.commands.main import main
from harness.gates import Verdict
from harness.history.ledger import Ledger
from harness.rerun.bisect import BAD, GOOD, SKIP, judge
from tests.helpers import scenario_text

REPO = Path(__file__).resolve().parents[2]


def test_judge_maps_gates_to_good_bad_skip() -> None:
    ref = Verdict("provisioning", "fail", "x")
    assert judge(ref, Verdict("provisioning", "fail", "y")) == GOOD
    assert judge(ref, Verdict("pass", "pass", "")) == GOOD
    assert judge(ref, Verdict("empty-backbones", "skip", "")) == BAD
    assert judge(ref, Verdict("no-data", "no-data", "provisioning: none")) == BAD
    assert judge(ref, Verdict.broken("config-error", "bad yaml")) == SKIP
    assert judge(ref, Verdict.broken("infra-error", "killed")) == SKIP


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _commit(repo: Path, message: str, config: str | None = None) -> str:
    if config is not None:
        (repo / "configs" / "operator_replay.yaml").write_text(config)
    (repo / "notes.txt").write_text(message)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def test_bisect_names_the_first_bad_commit_and_its_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    repo = tmp_path / "product"
    (repo / "configs").mkdir(parents=True)
    (repo / "scenarios").mkdir()
    (repo / "pyproject.toml").write_text("[project]\nname = 'product'\n")
    good_config = (REPO / "configs" / "operator_replay.yaml").read_text()
    good_config = good_config.replace("models/netvlad/netvlad.pt", "models/none.pt")
    scenario = scenario_text("prov", "provisioning")
    (repo / "scenarios" / "prov.scenario.yaml").write_text(scenario)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.org")
    _git(repo, "config", "user.name", "dev")
    emptied = good_config.split("\nc10_provisioning:")[0] + "\nc10_provisioning:\n  backbones: []\n"
    shas = [_commit(repo, "c1: provisioning stops on the missing checkpoint", good_config)]
    shas.append(_commit(repo, "c2: docs"))
    shas.append(_commit(repo, "c3: docs"))
    # c4 is where git bisect looks first (the middle of c2..c7): it cannot be judged
    shas.append(_commit(repo, "c4: the config does not parse", "c10_provisioning: [\n"))
    shas.append(_commit(repo, "c5: config fixed", good_config))
    shas.append(_commit(repo, "c6: backbones emptied by mistake", emptied))
    shas.append(_commit(repo, "c7: docs"))
    ledger = tmp_path / "ledger.sqlite"
    capsys.readouterr()
    args = ["bisect", "--good", shas[0], "--bad", "main", "scenarios/prov.scenario.yaml"]
    assert main([*args, "--repo", str(repo), "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert f"first bad commit: {shas[5]}" in out, out
    assert "its verdict: empty-backbones (skip)" in out
    assert "reference at --good: provisioning" in out
    rows = Ledger(ledger).rows(scenario="prov")
    by_sha = {r.git_sha: r for r in rows}
    assert by_sha[shas[0]].status == "bisect:reference" and by_sha[shas[0]].gate == "provisioning"
    assert by_sha[shas[5]].gate == "empty-backbones" and by_sha[shas[5]].status == "bisect:bad"
    steps = [r for r in rows if r.status in ("bisect:good", "bisect:bad", "bisect:skip")]
    assert len(steps) >= 2 and all(r.run_id.startswith("bisect-") for r in rows)
    assert by_sha[shas[3]].gate == "config-error" and by_sha[shas[3]].status == "bisect:skip"
    assert f"harness bisect step {shas[3]}: config-error -> skip" in out
    # each step says what it judged with: no checkpoint there, no engine, the commit's models
    assert "models: own recipe" in out
    assert (
        f"step {shas[5][:10]}" in out and "checkpoint none, engine none, models: own recipe" in out
    )
    # the user's checkout is as it was: on main, not bisecting, one worktree
    assert _git(repo, "rev-parse", "HEAD") == shas[-1]
    assert len(_git(repo, "worktree", "list").splitlines()) == 1
    assert not (repo / ".git" / "BISECT_LOG").exists()


def test_bisect_refuses_what_it_cannot_search(tmp_path: Path, capsys) -> None:
    assert main(["bisect", "--good", "a", "--bad", "b", "x.yaml", "--repo", str(tmp_path)]) == 1
    assert "git rev-parse --show-toplevel" in capsys.readouterr().err
    # today's models/ in every old commit only when asked for, and then said
    args = ["bisect", "--good", "a", "--bad", "b", "x.yaml", "--repo", str(REPO)]
    assert main([*args, "--link", "models"]) == 1
    assert "add --reuse-models to allow it" in capsys.readouterr().err


def test_a_step_records_the_engine_its_descriptors_came_from(tmp_path: Path) -> None:
    from harness.history.ledger import engine_of
    from harness.record import read_record

    path = tmp_path / "record.jsonl"
    corpus = {"kind": "event", "stage": "vpr", "type": "corpus", "runtime": "openvino-int8"}
    path.write_text(json.dumps({"kind": "condition"}) + "\n" + json.dumps(corpus) + "\n")
    assert engine_of(read_record(path)) == "openvino-int8"
    path.write_text(json.dumps({"kind": "condition"}) + "\n")
    assert engine_of(read_record(path)) is None and engine_of(None) is None


def test_bisect_steps_are_never_the_head_or_the_baseline(tmp_path: Path) -> None:
    from harness.history import tier2
    from harness.history.ledger import Row

    ledger = Ledger(tmp_path / "l.sqlite")
    for t, run in enumerate(("run-1", "run-2")):
        ledger.append(Row(run, "s", "provisioning", "fail", time=t, status="xfailed"))
    ledger.append(Row("bisect-x-abc", "s", "empty-backbones", "skip", time=9, status="bisect:bad"))
    result = tier2.check(ledger, "last green")
    assert "run `run-1`" in result.baseline and result.head == "run-2"
