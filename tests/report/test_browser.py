"""The offline HTML report from a real run, opened in headless Chromium (a screenshot is kept)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.report.build import build, build_sessions, find_allure
from tests.helpers import scenario_text

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# A stand-in stack that makes a figure and stops in provisioning, so the report has an image.
FIGS = """
from matplotlib.figure import Figure
from harness.run.stage import StageStop

class Figs:
    def provision(self, ctx):
        fig = Figure(figsize=(3, 2))
        fig.subplots().plot([0, 1], [1, 0])
        fig.savefig(ctx.out_dir / "provisioning_checks.png")
        (ctx.out_dir / "extra").mkdir()
        fig.savefig(ctx.out_dir / "extra" / "summary.png")  # claimed by no stage
        ctx.emit("provisioning", "backbones", count=1, names=["fake"], source="figs.py")
        ctx.emit("provisioning", "check", backbone="fake", check="exists", ok=False,
                 detail="fake checkpoint absent")
        raise StageStop("fake checkpoint absent")

    def fixes(self, ctx, engines):
        return []

    def navigate(self, ctx, fixes):
        pass
"""


def _needs() -> str:
    """Chromium's path, or skip (fail under HARNESS_REQUIRE_BROWSER=1) saying what is missing."""
    missing = []
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e .[dev])")
    try:
        find_allure(REPO)
    except HarnessError as exc:
        missing.append(str(exc))
    if not shutil.which("java"):
        missing.append("java (the Allure 2 generator needs a JRE)")
    if missing:
        why = "browser report test needs: " + "; ".join(missing)
        if os.environ.get("HARNESS_REQUIRE_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return chromium  # type: ignore[return-value]


@pytest.mark.browser
def test_report_from_a_real_run_shows_scenarios_gates_steps_and_images(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    chromium = _needs()
    from playwright.sync_api import sync_playwright

    project.makepyfile(figs=FIGS)
    monkeypatch.syspath_prepend(str(project.path))
    (project.path / "suite").mkdir()
    (project.path / "suite" / "figs.scenario.yaml").write_text(
        scenario_text("figs", "provisioning", pipeline="figs:Figs")
    )
    (project.path / "suite" / "skip.scenario.yaml").write_text(
        scenario_text("skip", "empty-backbones", overrides="{c10_provisioning.backbones: []}")
    )
    for run in ("session-1", "session-2"):  # two sessions, no report built in between
        monkeypatch.setenv("HARNESS_RUN_ID", run)
        project.runpytest("--runner", "inprocess", "-p", "no:cacheprovider").assert_outcomes(
            xfailed=1, skipped=1
        )
    results = project.path / "reports" / "allure-results"
    report = project.path / "reports" / "allure-report"
    first, added = build_sessions(results, report, root=REPO)
    assert added == 2 and first.history_carried  # the second session carried the first's
    trend = json.loads((report / "history" / "history-trend.json").read_text())
    assert len(trend) == 2 and all(t["data"]["passed"] == 2 for t in trend)
    history = json.loads((report / "history" / "history.json").read_text())
    # each scenario, under one history id, holds both sessions
    assert len(history) == 2 and all(len(h["items"]) == 2 for h in history.values())
    assert build_sessions(results, report, root=REPO) == (None, 0)  # nothing new: left as is
    again = build(results, report, root=REPO)  # an explicit rebuild still carries it
    assert again.history_carried

    # `harness report open` serves it; its first line says where
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.commands.main",
            "report",
            "open",
            "--out",
            str(report),
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    line = server.stdout.readline()  # type: ignore[union-attr]
    url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0) + "#suites"  # type: ignore[union-attr]
    # The screenshot stays with the test's own files (never the project's reports/).
    shot = project.path / "allure-report.png"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url.replace("#suites", "#"))
            page.locator(".widget").first.wait_for(timeout=20_000)
            page.wait_for_function(  # every widget drawn (each shows "Loading..." until then)
                "() => !document.body.innerText.includes('Loading...')", timeout=30_000
            )
            overview = page.inner_text("body")
            page.goto(url)
            for node in ("tier1", "suite", "figs"):
                page.get_by_text(node, exact=True).first.click(timeout=20_000)
            steps = page.locator(".step__title")
            steps.filter(has_text="provisioning: 1 backbones, 1 check").first.click()
            page.get_by_text("provisioning_checks").first.click()
            image = page.locator("img[src*='data/attachments/']").first
            image.wait_for(timeout=20_000)
            body = page.inner_text("body")
            gates_icon = steps.filter(has_text="gates: provisioning (fail)").first.inner_html()
            page.screenshot(path=str(shot), full_page=True)
            natural_width = image.evaluate("img => img.naturalWidth")
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    # every scenario did what it expects: the overview reads a full success, not 0 %
    assert "100%" in overview and "2 test cases" in overview.replace("\n", " "), overview
    assert (
        "as expected: provisioning: fake: exists failed: fake checkpoint" in body
    )  # the verdict's words
    assert "_StepStop" not in body and "harness.pytest" not in body
    assert "Categories: as expected: provisioning" in body
    assert "failed" in gates_icon  # the gates step shows its stopping sub-step's failure
    assert "skip" in body  # both scenarios are listed
    assert "gate:provisioning" in body
    assert "gates: provisioning (fail)" in body and "fake: exists FAILED" in body
    assert natural_width > 0  # the PNG really loaded
    assert shot.read_bytes()[:4] == b"\x89PNG"
    assert "figures: 1 more" in body  # a PNG no stage claims is attached too
