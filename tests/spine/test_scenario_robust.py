"""Any scenario file costs one located report: hostile bytes, bombs, deep nesting, wrong types."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.commands.scenario import run_lint
from harness.scenario import yamlsafe
from harness.scenario.load import check, load
from harness.scenario.problems import MAX_PROBLEMS, Problem
from tests.helpers import scenario_text

OK = scenario_text("ok", "pass")
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)
# name -> (file content, text the one problem must contain); each is a kind users met.
KINDS: dict[str, tuple[str | bytes, str]] = {
    "deep": (OK + "description: " + "[" * 5000 + "]" * 5000 + "\n", "deeper than 32 levels"),
    "overrides_list": (OK + "overrides: [1, 2]\n", "overrides: Input should be a valid dict"),
    "overrides_str": (OK + "overrides: hello\n", "overrides: Input should be a valid dict"),
    "overrides_num": (OK + "overrides: 42\n", "overrides: Input should be a valid dict"),
    "nul": (OK.replace("name:", "name:\x00"), "control character U+0000 at byte 23"),
    "bel": (OK + "description: \x07\n", "control character U+0007 at byte"),
    "c1": (OK + "description: \x80\n", "control character U+0080 at byte"),
    "not_utf8": (OK.encode() + b"description: \x80\n", f"read: byte {len(OK) + 13} (0x80)"),
    "capital": (OK + "Expect: pass\n", "Expect: unknown key; did you mean 'expect'?"),
    "self_merge": (OK + "eskf: &e {gate_nis: 9, <<: *e}\n", "alias *e refers to a node that"),
    "superscript": (
        OK + "overrides: {c10_provisioning.backbones.\u00b2.runtime: pytorch-fp32}\n",
        "'²' is not an index in it (write indices with the digits 0-9)",
    ),
    "long_config": (
        OK.replace("configs/operator_replay.yaml", "c" * 5000),
        "config: operator config path cannot be used",
    ),
    "bomb": (OK + BOMB, "aliases expand the document to more than 50000 values"),
    "format_true": (OK.replace("format_version: 1", "format_version: true"), "True is not supp"),
    "tier_true": (OK + "tier: true\n", "tier: true is a boolean, not a number"),
    "min_queries": (
        OK + "gates: {retrieval_quality: {min_queries: -60}}\n",
        "min_queries: Input should be greater than or equal to 1 (got -60)",
    ),
    "sigma": (
        OK + "gates: {eskf_divergence: {sigma_vpr_m: -1e-09}}\n",
        "sigma_vpr_m: Input should be greater than 0 (got -1e-09)",
    ),
    "inf": (OK + "timeout_s: .inf\n", "timeout_s: inf is not a finite number"),
    "quoted": (OK + "vpr: {rate_hz: '2'}\n", "vpr.rate_hz: '2' is a string, not a number"),
    "empty_override": (OK + "overrides: {'': 3}\n", "overrides.'': an empty key names nothing"),
    "empty_part": (OK + "overrides: {c2_vpr..top_k: 3}\n", "has an empty part between dots"),
    "bool_override": (
        OK + "overrides: {c2_vpr.top_k: true}\n",
        "overrides.c2_vpr.top_k: true is a boolean",
    ),
    "huge": ("x: " + "y" * (yamlsafe.MAX_BYTES + 10) + "\n", f"over {yamlsafe.MAX_BYTES} bytes"),
}


def lint_cli(*paths: Path) -> int:
    """`harness scenario lint PATH...` through its command function (no other command group)."""
    return run_lint(argparse.Namespace(paths=list(paths)))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_users_met_is_one_located_problem(project: pytest.Pytester, kind: str) -> None:
    content, expected = KINDS[kind]
    path = project.path / f"{kind}.scenario.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    problems = check(path, project.path)
    assert isinstance(problems, list), f"{kind} loaded"
    [problem] = problems
    assert problem.path == path and problem.line >= 1 and problem.col >= 1
    assert expected in str(problem)
    assert str(problem).isprintable() or "\n" in str(problem)  # control bytes are escaped
    assert all(c.isprintable() for c in str(problem).replace("\n", ""))
    assert len(str(problem)) < 1200  # the quoted value is cut, whatever its size


def test_an_alias_bomb_stops_at_the_alias_that_passes_the_bound(project: pytest.Pytester) -> None:
    path = project.makefile(".scenario.yaml", bomb=OK + BOMB)
    [problem] = check(path, project.path)
    # a3 stands for 7,381 values: the sixth *a3 in a4's list takes the total past 50,000
    assert (problem.line, problem.col) == (OK.count("\n") + 5, 35)
    assert "a4: &a4 [*a3" in str(problem)


def test_a_batch_of_bad_files_gets_one_report_each(project: pytest.Pytester, capsys) -> None:
    for kind, (content, _) in KINDS.items():
        data = content if isinstance(content, bytes) else content.encode()
        data = data.replace(b"name: ok", f"name: {kind.replace('_', '-')}".encode())
        (project.path / f"{kind}.scenario.yaml").write_bytes(data)
    project.makefile(".scenario.yaml", good=scenario_text("good", "pass"))
    assert lint_cli(project.path) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    for kind in KINDS:
        assert f"{kind}.scenario.yaml:" in out, kind
    assert "good.scenario.yaml" not in out
    assert f"{len(KINDS) + 1} scenario file(s), {len(KINDS)} with errors" in out


def test_ten_thousand_unknown_keys_are_read_once_and_capped(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project.makefile(
        ".scenario.yaml", many=OK + "".join(f"unknown_{i}: {i}\n" for i in range(10_000))
    )
    opened: list[Path] = []
    real_open = Path.open

    def counting_open(self: Path, *args, **kwargs):
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: pytest.fail(f"re-read {self}"))
    problems = check(path, project.path)
    text = "\n".join(str(p) for p in problems)
    assert opened.count(path) == 1
    assert len(problems) == MAX_PROBLEMS + 1
    assert "unknown_0: unknown key" in text and "7 | unknown_0: 0" in text
    assert f"9800 more problem(s) not shown ({MAX_PROBLEMS} are shown per file)" in text


def test_problems_quote_the_line_without_reading_the_file_again(tmp_path: Path) -> None:
    problem = Problem(tmp_path / "gone.scenario.yaml", 3, 1, "tier", "bad", source="tier: 3")
    assert str(problem).endswith("   3 | tier: 3")


def test_odd_digits_in_values_are_not_numbers(project: pytest.Pytester) -> None:
    path = project.makefile(".scenario.yaml", digits=OK + "tier: ١\nvpr: {input_px: ３２０}\n")
    text = "\n".join(str(p) for p in check(path, project.path))
    assert "tier: '١' is a string, not a number" in text
    assert "vpr.input_px: '３２０' is a string, not a number" in text


def test_same_name_twice_is_a_collection_error_naming_both(project: pytest.Pytester) -> None:
    project.makefile(".scenario.yaml", a=scenario_text("twin", "pass"))
    project.makefile(".scenario.yaml", b=scenario_text("twin", "pass"))
    result = project.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*b.scenario.yaml:2:1: name: name 'twin' is also the name of *a.scenario.yaml:2;*"]
    )


def test_lint_finds_the_same_name_twice(project: pytest.Pytester, capsys) -> None:
    project.makefile(".scenario.yaml", a=scenario_text("twin", "pass"))
    project.makefile(".scenario.yaml", b=scenario_text("twin", "pass"))
    assert lint_cli(project.path) == 1
    out = capsys.readouterr().out
    assert "b.scenario.yaml:2:1: name: name 'twin' is also the name of " in out
    assert "a.scenario.yaml:2; names are unique in a session" in out


def test_collection_survives_any_file_and_reports_each(project: pytest.Pytester) -> None:
    for kind in ("deep", "nul", "bomb", "capital", "overrides_list", "not_utf8"):
        content, _ = KINDS[kind]
        data = content if isinstance(content, bytes) else content.encode()
        (project.path / f"{kind}.scenario.yaml").write_bytes(data)
    result = project.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*6 errors*"])


def test_the_shipped_scenarios_still_load() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "scenarios").rglob("*.scenario.yaml")):
        assert load(path, root).scenario.name
