"""The plugin from the outside: real runs through pytester, the ratchet's outcomes, gates update."""

from __future__ import annotations

import textwrap

import pytest

from harness.commands.main import main
from tests.helpers import scenario_text

EMPTY = "{c10_provisioning.backbones: []}"
MISSING = "{c10_provisioning.backbones.0.weights_path: models/none.pt}"


def test_ratchet_outcomes_from_real_runs(project: pytest.Pytester) -> None:
    project.makefile(
        ".scenario.yaml", skip=scenario_text("skip", "empty-backbones", overrides=EMPTY)
    )
    project.makefile(
        ".scenario.yaml", exact=scenario_text("exact", "provisioning", overrides=MISSING)
    )
    project.makefile(
        ".scenario.yaml", fwd=scenario_text("fwd", "empty-backbones", overrides=MISSING)
    )
    project.makefile(".scenario.yaml", back=scenario_text("back", "provisioning", overrides=EMPTY))
    result = project.runpytest("-rA", "-v")
    result.assert_outcomes(skipped=1, xfailed=1, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*skip.scenario.yaml:2: empty-backbones: c10_provisioning.backbones is empty in *",
            "XFAIL exact.scenario.yaml::exact - provisioning: netvlad-vgg16: exists failed*",
            "*gate moved forward: raise expect to provisioning (was empty-backbones)*",
            "*regression: stopped at empty-backbones, expected provisioning*",
        ]
    )


def test_the_summary_says_where_every_run_lies(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.makefile(
        ".scenario.yaml",
        skip=scenario_text("skip", "empty-backbones", overrides=EMPTY),
        exact=scenario_text("exact", "provisioning", overrides=MISSING),
    )
    monkeypatch.setenv("HARNESS_RUN_ID", "run-s")
    result = project.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["scenario runs: reports/runs/run-s/ (--show-runs lists each)"])
    result = project.runpytest("-p", "no:cacheprovider", "--show-runs")
    result.stdout.fnmatch_lines_random(
        [
            "*= scenario runs =*",
            "skipped  skip * reports/runs/run-s/skip/",
            "xfailed  exact * reports/runs/run-s/exact/",
        ]
    )
    assert (project.path / "reports" / "runs" / "run-s" / "exact" / "record.jsonl").is_file()


def test_k_selects_by_scenario_name_and_markers_apply(project: pytest.Pytester) -> None:
    project.makefile(
        ".scenario.yaml",
        a=scenario_text("alpha", "empty-backbones", overrides=EMPTY, markers="[smoke]"),
        b=scenario_text("beta", "empty-backbones", overrides=EMPTY),
    )
    project.runpytest("-k", "alpha").assert_outcomes(skipped=1, deselected=1)
    project.runpytest("-m", "smoke").assert_outcomes(skipped=1, deselected=1)
    project.runpytest("-m", "tier1").assert_outcomes(skipped=2)


def test_collect_only_reports_every_error_of_every_file(project: pytest.Pytester) -> None:
    broken = {
        "b1": "format_version: 1\nname: b1\nexpect: pass\nconfig: [\n",
        "b2": scenario_text("b2", "pass", tier="'one'"),
        "b3": scenario_text("b3", "pass", vpr="{strategy: magic}"),
        "b4": scenario_text("b4", "pass", overrides="{c10_provisioning.nope: 1}"),
        "b5": scenario_text("b5", "pass", gates="{retrieval_quality: {recal_at: 5}}"),
    }
    for name, text in broken.items():
        project.makefile(".scenario.yaml", **{name: text})
    result = project.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines_random(
        [
            "*b1.scenario.yaml:4:10: YAML syntax error*",
            "*b2.scenario.yaml:7:1: tier: 'one' is not allowed*",
            "*b3.scenario.yaml:7:7: vpr.strategy: 'magic' is not allowed*",
            "*b4.scenario.yaml:7:13: overrides.c10_provisioning.nope: unknown key*",
            "*b5.scenario.yaml:7:29: gates.retrieval_quality.recal_at: unknown key; "
            "did you mean 'recall_at'?*",
            "*5 errors*",
        ]
    )


def test_gates_update_raises_expect_and_keeps_comments(project: pytest.Pytester) -> None:
    text = "# why this scenario exists\n" + scenario_text(
        "fwd", "empty-backbones", overrides=MISSING
    )
    text = text.replace("expect: empty-backbones", "expect: empty-backbones  # ratchet me")
    path = project.makefile(".scenario.yaml", fwd=text)
    text = path.read_text()
    project.runpytest().assert_outcomes(failed=1)
    assert main(["gates", "update", "--runs", str(project.path / "reports" / "runs")]) == 0
    updated = path.read_text()
    raised = "expect: provisioning  # ratchet me\nexpect_reason: 'exists failed'\n"
    assert updated == text.replace("expect: empty-backbones  # ratchet me\n", raised)
    project.runpytest().assert_outcomes(xfailed=1)
    # never lowers: a run that stops earlier leaves `expect` alone
    path.write_text(updated.replace(MISSING, EMPTY))
    project.runpytest().assert_outcomes(failed=1)
    assert main(["gates", "update", "--runs", str(project.path / "reports" / "runs")]) == 0
    assert "expect: provisioning" in path.read_text()


CRASHY = '''
"""Pipelines that break the run in the ways a real stack can."""
import os, signal, time

class Base:
    def fixes(self, ctx, engines): return []
    def navigate(self, ctx, fixes): pass

class Exits(Base):
    def provision(self, ctx):
        print("about to die", flush=True)
        os._exit(3)

class Hangs(Base):
    def provision(self, ctx):
        time.sleep(60)

class Killed(Base):
    def provision(self, ctx):
        os.kill(os.getpid(), signal.SIGKILL)

class Torn(Base):
    def provision(self, ctx):
        ctx.flush_pending()
        with open(ctx.out_dir / "record.jsonl", "a") as record:  # a writer dying mid-line
            record.write('{"kind": "event", "stage": "vp')
        os._exit(0)

class Raises(Base):
    def provision(self, ctx):
        raise ZeroDivisionError("bug in the stack")
'''


def test_broken_children_are_infra_errors_and_the_session_goes_on(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(crashy=textwrap.dedent(CRASHY))
    for name in ("Exits", "Hangs", "Killed", "Torn", "Raises"):
        extra = {"pipeline": f"crashy:{name}"}
        if name == "Hangs":
            extra["timeout_s"] = "3"
        project.makefile(
            ".scenario.yaml", **{name.lower(): scenario_text(name.lower(), "pass", **extra)}
        )
    project.makefile(
        ".scenario.yaml", zlast=scenario_text("zlast", "provisioning", overrides=MISSING)
    )
    result = project.runpytest("-rA")
    result.assert_outcomes(failed=5, xfailed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*infra-error: harness.run exited with status 3*",
            "*about to die*",
            "*infra-error: timed out after 3 s and was killed*",
            "*infra-error: harness.run was killed by SIGKILL*",
            "*infra-error: */torn/record.jsonl: the run did not finish*torn final line*",
            "*infra-error: ZeroDivisionError: bug in the stack*",
        ]
    )
