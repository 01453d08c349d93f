"""The cache stays bounded: entries by kind with sizes and ages, least-recently-used eviction of
engines and descriptors past the bound, and `harness cache list | prune`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness import cache
from harness.commands.main import main
from harness.errors import HarnessError

DAY = 86400.0


def _file(path: Path, size: int, age_s: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def _engine(root: Path, stem: str, size: int, age_s: float) -> None:
    folder = root / "engines" / "openvino"
    _file(folder / f"{stem}.xml", 10, age_s)
    _file(folder / f"{stem}.bin", size, age_s)
    _file(folder / f"{stem}.parity.json", 5, age_s)
    _file(folder / f"{stem}.compiled-2026.1" / "blob", size, age_s)
    os.utime(folder / f"{stem}.compiled-2026.1", (time.time() - age_s,) * 2)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / ".cache"
    _engine(root, "aaaa-240-int8-c1-r1", 1000, 3 * DAY)
    _engine(root, "bbbb-240-int8-c1-r1", 1000, 1 * DAY)
    _file(root / "descriptors" / "d1.npy", 300, 2 * DAY)
    _file(root / "descriptors" / "d1.npy.lock", 0, 2 * DAY)
    clip = root / "synth" / "s1"
    _file(clip / "video.mp4", 500, 5 * DAY)
    os.link(clip / "video.mp4", root / "synth" / "s1-copy.mp4")  # a hard link counts once
    os.utime(clip, (time.time() - 5 * DAY,) * 2)
    _file(root / "synth" / "video" / "v1.mp4", 7, 4.5 * DAY)
    _file(root / "image" / "rootfs-abc.tar", 400, 9 * DAY)
    _file(root / "stray.bin", 3, 0)
    return root


def test_entries_group_an_engine_and_count_hard_links_once(root: Path) -> None:
    found = {(e.kind, e.key): e for e in cache.entries(root)}
    engine = found["engines", "aaaa-240-int8-c1-r1"]
    assert len(engine.paths) == 4 and engine.bytes == 2015  # xml, bin, parity, compiled blob
    assert found["descriptors", "d1"].bytes == 300  # with its lock
    assert found["clips", "s1"].bytes + found["clips", "s1-copy"].bytes == 500
    assert ("clips", "video") not in found and found["clips", "v1"].bytes == 7  # its files
    assert found["images", "rootfs-abc"].bytes == 400
    assert found["other", "stray"].bytes == 3
    assert 2.9 * DAY < engine.age_s() < 3.1 * DAY
    assert [e.key for e in cache.entries(root, ["engines"])] == [
        "aaaa-240-int8-c1-r1",
        "bbbb-240-int8-c1-r1",
    ]  # oldest use first


def test_an_unknown_kind_is_named(root: Path) -> None:
    with pytest.raises(HarnessError, match="no cache kind wheels; kinds: clips"):
        cache.entries(root, ["wheels"])


def test_the_bound_evicts_the_least_recently_used_engines_and_descriptors(root: Path) -> None:
    # 4030 bytes of engines and descriptors; a bound of 2400 evicts the oldest engine only.
    gone = cache.bound(root, limit=2400)
    assert [e.key for e in gone] == ["aaaa-240-int8-c1-r1"]
    left = {e.key for e in cache.entries(root, cache.BOUNDED)}
    assert left == {"bbbb-240-int8-c1-r1", "d1"}
    assert not list((root / "engines" / "openvino").glob("aaaa*"))
    assert (root / "synth" / "s1" / "video.mp4").exists()  # clips are not bounded
    assert cache.bound(root, limit=2400) == []  # it fits now


def test_the_bound_spares_what_was_just_used(root: Path) -> None:
    cache.touch(*(root / "engines" / "openvino").glob("aaaa*"))
    gone = cache.bound(root, limit=0)
    assert [e.key for e in gone] == ["d1", "bbbb-240-int8-c1-r1"]  # not the engine in use


def test_the_bound_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.LIMIT_ENV, raising=False)
    assert cache.limit_bytes() == int(cache.DEFAULT_MAX_GB * 1e9)
    monkeypatch.setenv(cache.LIMIT_ENV, "0.5")
    assert cache.limit_bytes() == 500_000_000
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv(cache.LIMIT_ENV, bad)
        with pytest.raises(HarnessError, match="give a size in GB"):
            cache.limit_bytes()


def test_a_new_recipe_replaces_the_older_engine_only(tmp_path: Path) -> None:
    _engine(tmp_path, "aaaa-240-int8-c1-old", 10, 0)
    _engine(tmp_path, "aaaa-240-int8-c1-new", 10, 0)
    _engine(tmp_path, "aaaa-240-int8-c2-old", 10, 0)  # another calibration set: kept
    _engine(tmp_path, "aaaa-2400-int8-c1-old", 10, 0)  # another size: kept
    _engine(tmp_path, "aaaa-240-int8-c10-old", 10, 0)  # a key the prefix only begins: kept
    folder = tmp_path / "engines" / "openvino"
    gone = cache.replace_older(folder, "aaaa-240-int8-c1", "aaaa-240-int8-c1-new")
    assert sorted(p.name for p in gone) == [
        "aaaa-240-int8-c1-old.bin",
        "aaaa-240-int8-c1-old.compiled-2026.1",
        "aaaa-240-int8-c1-old.parity.json",
        "aaaa-240-int8-c1-old.xml",
    ]
    assert {p.name.split(".")[0] for p in folder.iterdir()} == {
        "aaaa-240-int8-c1-new",
        "aaaa-240-int8-c2-old",
        "aaaa-2400-int8-c1-old",
        "aaaa-240-int8-c10-old",
    }


def test_select_by_age_and_by_count(root: Path) -> None:
    found = cache.entries(root)
    old = {e.key for e in cache.select(found, older_than_s=4 * DAY)}
    assert old == {"s1", "s1-copy", "v1", "rootfs-abc"}
    last = {(e.kind, e.key) for e in cache.select(found, keep_last=1)}
    assert last == {("engines", "aaaa-240-int8-c1-r1"), ("clips", "s1"), ("clips", "s1-copy")}
    both = {e.key for e in cache.select(found, older_than_s=2.5 * DAY, keep_last=1)}
    assert both == {"aaaa-240-int8-c1-r1", "s1", "s1-copy"}  # old, and not its kind's newest
    assert len(list(cache.select(found, everything=True))) == len(found)


def test_list_shows_kinds_sizes_and_the_bound(root: Path, capsys) -> None:
    assert main(["cache", "list", "--cache-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "engines" in out and "descriptors" in out and "images" in out
    assert "engines and descriptors: 4.2 KiB of a 4 GB bound" in out
    assert main(["cache", "list", "--cache-dir", str(root), "--entries", "--kind", "images"]) == 0
    assert capsys.readouterr().out.split() == ["images", "400", "B", "9d", "rootfs-abc"]


def test_prune_removes_what_it_says_and_nothing_else(root: Path, capsys) -> None:
    args = ["cache", "prune", "--cache-dir", str(root)]
    assert main([*args, "--older-than", "4d", "--dry-run"]) == 0
    assert "would remove 4 of" in capsys.readouterr().out
    assert (root / "image" / "rootfs-abc.tar").exists()
    assert main([*args, "--older-than", "4d", "--kind", "images"]) == 0
    assert "removed 1 of 1 entries" in capsys.readouterr().out
    assert not (root / "image" / "rootfs-abc.tar").exists() and (root / "synth" / "s1").exists()
    assert main([*args, "--keep-last", "1", "--kind", "engines"]) == 0
    assert [e.key for e in cache.entries(root, ["engines"])] == ["bbbb-240-int8-c1-r1"]
    assert main([*args, "--all"]) == 0
    assert cache.entries(root) == []


def test_prune_without_a_rule_or_with_a_bad_age_says_how(root: Path, capsys) -> None:
    assert main(["cache", "prune", "--cache-dir", str(root)]) == 1
    assert "--older-than AGE, --keep-last N or --all" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["cache", "prune", "--cache-dir", str(root), "--older-than", "soon"])
    assert "give an age like 12h, 7d or 2w" in capsys.readouterr().err
