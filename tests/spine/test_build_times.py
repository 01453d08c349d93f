"""First-use builds say what they cost only when asked: one line per outermost build."""

from __future__ import annotations

import json

from harness.build_times import BUILD_TIMES_ENV, timed


def test_a_build_writes_one_line_with_its_kind_and_costs(tmp_path, monkeypatch):
    log = tmp_path / "builds.jsonl"
    monkeypatch.setenv(BUILD_TIMES_ENV, str(log))
    with timed("clip", "synth derkachi-60s seed 7"), timed("engine", "inside: not counted"):
        sum(i * i for i in range(200_000))
    (line,) = [json.loads(text) for text in log.read_text().splitlines()]
    assert line["kind"] == "clip" and line["what"] == "synth derkachi-60s seed 7"
    assert line["wall_s"] >= 0 and line["cpu_s"] >= 0


def test_a_failed_build_is_timed_too(tmp_path, monkeypatch):
    log = tmp_path / "builds.jsonl"
    monkeypatch.setenv(BUILD_TIMES_ENV, str(log))
    try:
        with timed("training", "broken"):
            raise ValueError("boom")
    except ValueError:
        pass
    assert json.loads(log.read_text())["what"] == "broken"
    with timed("training", "after the failure"):  # the nesting count was restored
        pass
    assert len(log.read_text().splitlines()) == 2


def test_without_the_variable_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(BUILD_TIMES_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with timed("scaffold", "netvlad.pt"):
        pass
    assert list(tmp_path.iterdir()) == []
