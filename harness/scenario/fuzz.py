"""The scenario-file fuzzer: seeded mutations of real scenario files, and how checking each ended.

Mutations are the ways files go wrong in many hands (stray bytes, deep nesting, alias bombs,
wrong types, odd keys and digits, broken overrides and paths), in the scenario or in the
operator config it names. Each mutated file is loaded
directly, so the safety net of `check` cannot hide a crash. Outcomes:

    loaded      the mutation left a valid scenario
    problems    ScenarioInvalid with located, bounded problems (the expected refusal)
    unlocated   a problem without a file, line and column, or an error text over the bound
    crash       any other exception: what a user would have seen as a traceback
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.scenario.load import load
from harness.scenario.problems import MAX_PROBLEMS, MESSAGE_CHARS, ScenarioInvalid

OUTCOMES = ("loaded", "problems", "unlocated", "crash")
# One problem's text: location, bounded message, and the quoted line (cut at 160).
MAX_PROBLEM_TEXT = 600 + MESSAGE_CHARS
Mutator = Callable[[random.Random, str], str | bytes]

_ODD_VALUES = [
    "true", "false", "null", "~", "[]", "{}", "''", "-1", "-1e-09", "0", "1e309", ".inf", "-.inf",
    ".nan", "99999999999999999999999", "'25'", "²", "١٢", "３", "0x10", "0o7", "1_000",
    "2026-01-01", "!!binary aGVsbG8=", "!custom tag", "[1, [2, [3]]]", "{a: {b: {c: 1}}}",
    "'" + "x" * 5000 + "'", "|\n  block\n  text",
]  # fmt: skip
_ODD_KEYS = ["Expect", "NAME", "", "''", "名前", "tier ", "x" * 3000, "1", "null", "true", "? [a]"]
_ODD_BYTES = [b"\x00", b"\x07", b"\x80", b"\xff", b"\xc2\x80", b"\x1b", b"\t", b"\r", b"\xef\xbb"]
_VALUE = re.compile(r"^(\s*(?:- )?[A-Za-z_][\w.]*:)[ ]*(\S.*)$", re.M)
_KEY = re.compile(r"^(\s*)([A-Za-z_][\w.]*)(:)", re.M)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


def flip_byte(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode())
    at = rng.randrange(len(data) + 1)
    data[at:at] = rng.choice(_ODD_BYTES)
    return bytes(data)


def cut_bytes(rng: random.Random, text: str) -> bytes:
    data = text.encode()
    a = rng.randrange(len(data) + 1)
    return data[:a] + data[min(len(data), a + rng.randrange(1, 40)) :]


def shuffle_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    choice = rng.randrange(4)
    if choice == 0:
        lines[i], lines[j] = lines[j], lines[i]
    elif choice == 1:
        lines.insert(i, lines[j])
    elif choice == 2:
        del lines[i]
    else:
        lines[i] = " " * rng.choice([1, 2, 3, 8]) + lines[i]
    return "".join(lines)


def swap_value(rng: random.Random, text: str) -> str:
    hits = list(_VALUE.finditer(text))
    if not hits:
        return text
    m = rng.choice(hits)
    return f"{text[: m.start()]}{m.group(1)} {rng.choice(_ODD_VALUES)}{text[m.end() :]}"


def odd_key(rng: random.Random, text: str) -> str:
    hits = list(_KEY.finditer(text))
    m = rng.choice(hits) if hits else None
    name = m.group(2) if m else "x"
    key = rng.choice([*_ODD_KEYS, name.upper(), name[:-1], name.capitalize()])
    if m is None or rng.random() < 0.3:
        return f"{text}{key}: 1\n"
    return f"{text[: m.start(2)]}{key}{text[m.end(2) :]}"


def many_keys(rng: random.Random, text: str) -> str:
    n = rng.choice([30, 300])  # 10,000 keys have their own test; this is about variety
    return text + "".join(f"unknown_{i}: {i}\n" for i in range(n))


def deep_nesting(rng: random.Random, text: str) -> str:
    depth = rng.choice([20, 33, 200, 5000])
    if rng.random() < 0.5:
        return f"{text}description: {'[' * depth}{']' * depth}\n"
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(min(depth, 300)))
    return f"{text}eskf:\n{'  ' * 1}" + block.replace("\n", "\n  ") + "  x: 1\n"


def aliases(rng: random.Random, text: str) -> str:
    kind = rng.randrange(4)
    if kind == 0:  # a billion laughs
        n = rng.choice([3, 6, 9])
        bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, n + 1)
        )
        return text + bomb
    if kind == 1:  # a merge key into itself
        return f"{text}eskf: &e {{init_sigma_p_m: 5, <<: *e}}\n"
    if kind == 2:  # an alias nothing defines
        return f"{text}vpr: *nowhere\n"
    return f"{text}x_anchor: &v {{strategy: oracle}}\nvpr: *v\n"  # a fine alias, unknown key


def break_overrides(rng: random.Random, text: str) -> str:
    kind = rng.randrange(6)
    if "overrides:" not in text:
        text += "overrides: {}\n"
    if kind == 0:
        value = rng.choice(["[1, 2]", "hello", "42", "null", "true"])
        return re.sub(r"^overrides:.*$", f"overrides: {value}\nx_moved:", text, count=1, flags=re.M)
    key = [
        "c10_provisioning.backbones.\u00b2.width",
        "''",
        "c10_provisioning..x",
        "c10_provisioning.backbones.-1.width",
        "c10_provisioning.backbones.99.width",
        "c2_vpr.top_k.deeper",
    ][rng.randrange(6)]
    value = rng.choice(["1", "true", "[]", "-5", "'x'"])
    return re.sub(r"^overrides:.*$", f"overrides:\n  {key}: {value}", text, count=1, flags=re.M)


def bad_config(rng: random.Random, text: str) -> str:
    path = rng.choice(
        ["c" * 5000, "configs", "/dev/null", "configs/nope.yaml", '"a\\0b"', "[configs]", "~"]
    )
    return re.sub(r"^config:.*$", f"config: {path}", text, count=1, flags=re.M)


def whole_file(rng: random.Random, text: str) -> str:
    return rng.choice(["", "---\n", f"{text}---\n{text}", "- a\n- b\n", "42\n", "null\n", "{"])


MUTATORS: tuple[Mutator, ...] = (
    flip_byte,
    cut_bytes,
    shuffle_lines,
    swap_value,
    swap_value,
    odd_key,
    many_keys,
    deep_nesting,
    aliases,
    break_overrides,
    bad_config,
    whole_file,
)


def mutate(rng: random.Random, text: str) -> bytes:
    """One to three mutations of `text` (as text while they can be, then bytes)."""
    current: str | bytes = text
    for _ in range(rng.choice([1, 1, 2, 3])):
        if isinstance(current, bytes):
            break
        current = rng.choice(MUTATORS)(rng, current)
    return current if isinstance(current, bytes) else current.encode()


def outcome(path: Path, root: Path) -> tuple[str, str]:
    """How loading `path` ended, and a line of detail when it should not have ended that way."""
    try:
        load(path, root)
    except ScenarioInvalid as exc:
        if not exc.problems or len(exc.problems) > MAX_PROBLEMS + 1:
            return "unlocated", f"{len(exc.problems)} problems"
        for p in exc.problems:
            text = str(p)
            if p.line < 1 or p.col < 1 or not str(p.path) or len(text) > MAX_PROBLEM_TEXT:
                return "unlocated", text[:300]
        return "problems", ""
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {str(exc)[:300]}"
    return "loaded", ""


@dataclass
class FuzzResult:
    counts: Counter = field(default_factory=Counter)
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # (case, outcome, detail)

    def summary(self) -> str:
        return ", ".join(f"{k} {self.counts.get(k, 0)}" for k in OUTCOMES)


def _with_config(data: bytes, config: Path) -> bytes:
    """The scenario pointed at `config` (an absolute path) instead of its own."""
    line = b"config: '" + str(config).replace("'", "''").encode() + b"'"
    return re.sub(rb"(?m)^config:.*$", lambda _: line, data, count=1)


def run(
    seeds: Iterable[Path],
    cases: int,
    seed: int,
    workdir: Path,
    root: Path,
    config: Path = Path("configs/operator_replay.yaml"),
    config_share: float = 0.2,
) -> FuzzResult:
    """`cases` mutated files from the real scenario files `seeds`, each loaded once; in a
    `config_share` of them the operator config (`config`, under `root`) is mutated instead."""
    rng = random.Random(seed)
    originals = [p.read_text(encoding="utf-8") for p in sorted(seeds)]
    config_text = (root / config).read_text(encoding="utf-8")
    workdir.mkdir(parents=True, exist_ok=True)
    result = FuzzResult()
    for case in range(cases):
        path = workdir / f"case{case:05d}.scenario.yaml"
        written = [path]
        if rng.random() < config_share:
            mutant = workdir / f"case{case:05d}.config.yaml"
            mutant.write_bytes(mutate(rng, config_text))
            written.append(mutant)
            data = _with_config(rng.choice(originals).encode(), mutant)
        else:
            data = mutate(rng, rng.choice(originals))
        path.write_bytes(data)
        kind, detail = outcome(path, root)
        result.counts[kind] += 1
        if kind in ("unlocated", "crash"):
            result.failures.append((case, kind, detail))
        else:
            for p in written:  # keep only the files that show a bug
                p.unlink()
    return result
