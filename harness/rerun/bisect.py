"""`harness bisect`: the first commit where a scenario's gate got worse, via `git bisect run`.

The user's checkout is never touched: the search runs in a temporary detached worktree (with
the git-ignored `.cache/` linked in: its entries are keyed by content, so a commit reuses only
what its own code would make). Each commit is judged with the models its own recipe makes:
the scenario runs through that commit's own pytest session, whose `scenarios/conftest.py`
builds the checkpoints the scenario names; today's `models/` is linked in only with
`--reuse-models`, and then every step says so. The scenario runs at `--good` first, to fix the
reference gate, and at `--bad`, which must be worse. Then `git bisect run` calls this module's
`step` at each commit: a gate at least as high on the ladder as the reference exits 0 (good),
a lower one 1 (bad), infra-error or config-error 125 (skip: the commit cannot be judged).
Every run, reference or step, is a row in the gate ledger under the run id
`bisect-<stamp>-<sha>`, with the checkpoint (sha256) and the engine it ran.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError, RecordError
from harness.gates import Verdict, conclude
from harness.history.ledger import BISECT_PREFIX, DEFAULT_LEDGER, Ledger, Row, row_from_run
from harness.history.transitions import rank

GOOD, BAD, SKIP, ABORT = 0, 1, 125, 128
PYTEST_INTERRUPTED = 2  # pytest's exit status when collection failed
DEFAULT_LINKS = (".cache",)
MODELS = "models"  # today's checkpoints: linked only with --reuse-models
OWN, REUSED = "own recipe", "today's models/ (--reuse-models)"
WORDS = {GOOD: "good", BAD: "bad", SKIP: "skip"}


class BisectError(HarnessError):
    """A bisect cannot start or finish (not a repository, unknown revision, nothing to find)."""


def judge(reference: Verdict, verdict: Verdict) -> int:
    """GOOD when `verdict` is at least as far up the ladder as `reference`, BAD below, SKIP
    when the run itself broke."""
    r0, r = rank(reference.gate, reference.reason), rank(verdict.gate, verdict.reason)
    if r is None or r0 is None:
        return SKIP
    return GOOD if r >= r0 else BAD


def _git(cwd: Path, *args: str, check: bool = True) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except OSError as exc:
        raise BisectError(f"git {args[0]} in {cwd}: {exc}; is git installed?") from None
    if check and out.returncode != 0:
        raise BisectError(f"git {' '.join(args)} in {cwd}: {out.stderr.strip() or out.stdout}")
    return out.stdout.strip()


def run_at_head(
    worktree: Path,
    scenario: Path,
    ledger: Ledger | None,
    runs: Path,
    bisect_id: str,
    timeout_s: float,
    word: str = "",
    models: str = OWN,
) -> tuple[Verdict, Row]:
    """Run the scenario at the worktree's checked-out commit through that commit's own pytest
    session (its plugin, its conftest's model builds); its row goes to the ledger. With its
    own recipe (`models`), what an earlier commit built in the worktree is removed first."""
    from harness.record import RECORD_NAME, read_record

    built = worktree / MODELS
    if models == OWN and built.is_dir() and not built.is_symlink():
        shutil.rmtree(built)
    sha = _git(worktree, "rev-parse", "HEAD")
    name = scenario.name.removesuffix(".scenario.yaml")
    run_id = f"{bisect_id}-{sha[:10]}"
    session = runs / bisect_id / sha[:12]
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_GIT_SHA"}  # read the commit's
    env["HARNESS_RUN_ID"] = run_id
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(worktree), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "pytest", str(scenario), "-q", "-p", "no:cacheprovider"]
    cmd += ["--runner", "local", "--harness-runs", str(session), "--bundle", "none"]
    try:
        done = subprocess.run(
            cmd, cwd=worktree, env=env, capture_output=True, text=True, timeout=timeout_s
        )
        verdict = _session_verdict(session / run_id, name, done)
    except subprocess.TimeoutExpired:
        verdict = Verdict.broken("infra-error", f"the step ran past {timeout_s:g} s")
    path = session / run_id / name / RECORD_NAME
    if path.is_file():  # judged again by today's gates, like every commit of the search
        verdict = conclude(path)
    try:
        record = read_record(path)
    except RecordError:
        record = None
    row = row_from_run(
        run_id,
        name,
        verdict,
        record,
        scenario_path=str(scenario),
        status=f"bisect:{word}" if word else "bisect",
    )
    if not row.git_sha:
        row = Row(**{**row.__dict__, "git_sha": sha})
    if ledger is not None:
        ledger.append(row)
    return verdict, row


def _session_verdict(folder: Path, name: str, done: subprocess.CompletedProcess) -> Verdict:
    """The scenario's verdict from the session's verdicts.jsonl (config errors included)."""
    import json

    lines = (folder / "verdicts.jsonl").read_text().splitlines() if folder.is_dir() else []
    for line in reversed(lines):
        with contextlib.suppress(json.JSONDecodeError):
            row = json.loads(line)
            if row.get("name") == name:
                return Verdict(row["gate"], row.get("outcome", "fail"), row.get("reason", ""))
    said = (done.stdout + done.stderr).strip()
    located = [ln for ln in said.splitlines() if ".scenario.yaml:" in ln or "configs/" in ln]
    if done.returncode == PYTEST_INTERRUPTED and located:  # it could not even load the scenario
        return Verdict.broken("config-error", f"at this commit: {located[0].strip()[:300]}")
    return Verdict.broken("infra-error", f"the commit's pytest wrote no verdict: {said[-300:]}")


def step_line(row: Row, models: str) -> str:
    """What a step was judged with: its checkpoint, the engine and where the models came from."""
    checkpoint = (row.checkpoint_sha256 or "none")[:12]
    return f"checkpoint {checkpoint}, engine {row.engine or 'none'}, models: {models}"


@dataclass
class BisectResult:
    good: Verdict
    bad: Verdict
    first_bad: str | None = None
    first_bad_verdict: Verdict | None = None
    candidates: list[str] = field(default_factory=list)
    steps: list[Row] = field(default_factory=list)
    log: str = ""
    models: str = OWN

    def summary(self) -> str:
        lines = [
            f"reference at --good: {self.good.gate}: {self.good.reason}",
            f"at --bad:            {self.bad.gate}: {self.bad.reason}",
            f"models: {self.models}",
        ]
        for row in self.steps:
            lines.append(
                f"  step {(row.git_sha or '?')[:10]}  {row.status:<12} {row.gate:<17} "
                f"({step_line(row, self.models)})"
            )
        if self.first_bad:
            v = self.first_bad_verdict
            lines.append(f"first bad commit: {self.first_bad}")
            if v is not None:
                lines.append(f"  its verdict: {v.gate} ({v.outcome}): {v.reason}")
        elif self.candidates:
            lines.append(
                "the first bad commit is one of (the others were skipped): "
                + ", ".join(c[:10] for c in self.candidates)
            )
        return "\n".join(lines)


def bisect(
    repo: Path,
    scenario: Path,
    good: str,
    bad: str,
    *,
    ledger: Path | None = None,
    links: list[str] | None = None,
    timeout_s: float = 1800.0,
    reuse_models: bool = False,
) -> BisectResult:
    """Find the first commit between `good` and `bad` where the scenario's gate is worse.

    Each commit makes its own models (its recipe); `reuse_models` links today's `models/`
    into every commit instead, and the result says so."""
    names = list(links if links is not None else DEFAULT_LINKS)
    if MODELS in names and not reuse_models:
        raise BisectError(
            "linking models/ judges every commit with today's checkpoints; drop it (each "
            "commit makes its own) or add --reuse-models to allow it"
        )
    if reuse_models and MODELS not in names:
        names.append(MODELS)
    top = Path(_git(repo.resolve(), "rev-parse", "--show-toplevel"))
    good_sha, bad_sha = (
        _revision(top, rev, flag) for rev, flag in ((good, "--good"), (bad, "--bad"))
    )
    if subprocess.run(
        ["git", "merge-base", "--is-ancestor", good_sha, bad_sha], cwd=top
    ).returncode:
        raise BisectError(
            f"--good {good} is not an ancestor of --bad {bad}; swap them or pick others"
        )
    rel = scenario
    if scenario.is_absolute():
        try:
            rel = scenario.resolve().relative_to(top)
        except ValueError:
            raise BisectError(f"{scenario} is not in the repository {top}") from None
    book = Ledger(ledger or top / DEFAULT_LEDGER)
    runs = top / "reports" / "runs"
    bisect_id = BISECT_PREFIX + time.strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:4]
    tmp = Path(tempfile.mkdtemp(prefix="harness-bisect-"))
    tree = tmp / "tree"
    _git(top, "worktree", "add", "--detach", str(tree), bad_sha)
    linked = []
    try:
        for name in names:
            if (top / name).exists() and not (tree / name).exists():
                (tree / name).symlink_to((top / name).resolve())
                linked.append(tree / name)
        result = _search(tree, rel, good_sha, bad_sha, book, runs, bisect_id, timeout_s, names)
        result.models = REUSED if reuse_models else OWN
        return result
    finally:
        _git(tree, "bisect", "reset", check=False)
        for link in linked:
            link.unlink(missing_ok=True)
        _git(top, "worktree", "remove", "--force", str(tree), check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def _revision(top: Path, rev: str, flag: str) -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=top,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise BisectError(f"{flag} {rev}: no such commit in {top}; give a sha, tag or branch")
    return out.stdout.strip()


def _search(tree, rel, good_sha, bad_sha, book, runs, bisect_id, timeout_s, links) -> BisectResult:
    _git(tree, "checkout", "--quiet", "--detach", good_sha)
    models = REUSED if MODELS in links else OWN
    good_v, _ = run_at_head(tree, rel, book, runs, bisect_id, timeout_s, "reference", models)
    if good_v.rank is None and rank(good_v.gate, good_v.reason) is None:
        raise BisectError(
            f"at --good {good_sha[:10]} the run broke ({good_v.gate}: "
            f"{good_v.reason}); pick a --good where {rel} gets a verdict"
        )
    _git(tree, "checkout", "--quiet", "--detach", bad_sha)
    bad_v, bad_row = run_at_head(tree, rel, book, runs, bisect_id, timeout_s, "bad", models)
    result = BisectResult(good_v, bad_v)
    if judge(good_v, bad_v) != BAD:
        raise BisectError(
            f"at --bad {bad_sha[:10]} {rel} stops at {bad_v.gate} ({bad_v.reason[:200]}), not "
            f"below {good_v.gate} at "
            "--good: nothing to bisect"
        )
    _git(tree, "bisect", "start", bad_sha, good_sha)
    step = [
        sys.executable,
        "-P",
        "-m",
        "harness.rerun.bisect",
        "step",
        str(rel),
        "--reference-gate",
        good_v.gate,
        "--reference-reason",
        good_v.reason,
        "--ledger",
        str(book.path),
        "--runs",
        str(runs),
        "--id",
        bisect_id,
        "--timeout",
        str(timeout_s),
        "--models",
        models,
    ]
    text = _bisect_run(tree, step)
    result.log = _git(tree, "bisect", "log", check=False)
    result.steps = [
        r for r in book.rows(scenario=bad_row.scenario) if r.run_id.startswith(bisect_id)
    ]
    if m := re.search(r"^([0-9a-f]{40}) is the first bad commit", text, re.M):
        result.first_bad = m.group(1)
        found = [r for r in result.steps if r.git_sha == result.first_bad]
        row = found[-1] if found else bad_row
        result.first_bad_verdict = Verdict(row.gate, row.outcome, row.reason, row.metrics)
    elif "first bad commit could be any of" in text:
        result.candidates = re.findall(r"^([0-9a-f]{40})$", text, re.M)
    else:
        raise BisectError(f"git bisect run did not finish: {text.strip()[-400:]}")
    return result


def _bisect_run(tree: Path, step: list[str]) -> str:
    """`git bisect run STEP`, echoing its progress lines; returns everything it printed."""
    seen = []
    with subprocess.Popen(
        ["git", "bisect", "run", *step],
        cwd=tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        for line in proc.stdout or []:
            seen.append(line)
            if line.startswith(("Bisecting:", "harness bisect step")):
                print(line.rstrip(), flush=True)
    return "".join(seen)


def step_main(argv: list[str] | None = None) -> int:
    """One `git bisect run` step: exit 0 good, 1 bad, 125 skip, 128 abort (our own failure)."""
    parser = argparse.ArgumentParser(prog="python -m harness.rerun.bisect step")
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--reference-gate", required=True)
    parser.add_argument("--reference-reason", default="")
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--models", default=OWN)
    args = parser.parse_args(argv)
    try:
        tree = Path.cwd()
        reference = Verdict(args.reference_gate, "fail", args.reference_reason)
        verdict, row = run_at_head(
            tree, args.scenario, None, args.runs, args.id, args.timeout, models=args.models
        )
        code = judge(reference, verdict)
        row = Row(**{**row.__dict__, "status": f"bisect:{WORDS[code]}"})
        Ledger(args.ledger).append(row)
        print(
            f"harness bisect step {row.git_sha}: {verdict.gate} -> {WORDS[code]} "
            f"({step_line(row, args.models)})"
        )
        return code
    except BaseException as exc:  # never let our own failure read as "bad" (exit 1)
        print(f"harness bisect step: aborting: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ABORT


if __name__ == "__main__":
    if sys.argv[1:2] != ["step"]:
        sys.exit("usage: python -m harness.rerun.bisect step SCENARIO ... (run by harness bisect)")
    sys.exit(step_main(sys.argv[2:]))
