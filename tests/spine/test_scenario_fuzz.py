"""The seeded scenario-file fuzzer in the suite: no mutation of a real scenario crashes loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import fuzz

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "scenarios").rglob("*.scenario.yaml"))


def _fuzz(tmp_path: Path, cases: int, seed: int) -> fuzz.FuzzResult:
    result = fuzz.run(SEEDS, cases, seed, tmp_path, ROOT)
    print(f"scenario fuzzer, {cases} cases, seed {seed}: {result.summary()}")
    assert sum(result.counts.values()) == cases
    assert not result.failures, "\n".join(map(str, result.failures[:10]))
    return result


def test_a_few_hundred_mutations_never_crash(tmp_path: Path) -> None:
    result = _fuzz(tmp_path, 300, seed=2026)
    # the mutations reach both sides: refused files and files that still load
    assert result.counts["problems"] > 100 and result.counts["loaded"] > 0


def test_each_mutator_is_exercised_and_deterministic() -> None:
    import random

    text = SEEDS[0].read_text()
    for mutator in fuzz.MUTATORS:
        a = mutator(random.Random(5), text)
        assert a == mutator(random.Random(5), text), mutator.__name__
        assert a != text.encode() or mutator is fuzz.shuffle_lines, mutator.__name__


@pytest.mark.slow
def test_thousands_of_mutations_never_crash(tmp_path: Path) -> None:
    _fuzz(tmp_path, 3000, seed=7)
