"""The scenario's `corpus:` block: validated and located like every field, then built."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj  # noqa: F401  imported before pytester snapshots sys.modules (it restores them)
import pytest
import rasterio  # noqa: F401
import torch  # noqa: F401  (re-importing torch after pytester restores sys.modules crashes)
from PIL import Image

from harness.clip.bundle import read_bundle
from harness.clip.corpus_source import scenario_corpus
from harness.clip.spec import CorpusSpec
from harness.errors import ClipError
from harness.scenario.load import load
from harness.scenario.problems import ScenarioInvalid
from tests.clip.test_geotiff import write_utm_tiff
from tests.helpers import scenario_text


def _problems(path: Path, root: Path) -> str:
    with pytest.raises(ScenarioInvalid) as info:
        load(path, root)
    return "\n".join(str(p) for p in info.value.problems)


def test_corpus_block_loads_and_every_mistake_is_located(project: pytest.Pytester) -> None:
    (project.path / "maps").mkdir()
    write_utm_tiff(project.path / "maps" / "utm.tif")
    ok = scenario_text("ok", "pass", corpus="{kind: geotiff, path: maps/utm.tif, zoom: 16}")
    loaded = load(project.makefile(".scenario.yaml", ok=ok), project.path)
    assert loaded.scenario.corpus.kind == "geotiff" and loaded.scenario.corpus.tile_px == 256
    typo = scenario_text("typo", "pass", corpus="{kind: geotif, path: maps/utm.tif}")
    path = project.makefile(".scenario.yaml", typo=typo)
    assert f"{path}:7:" in (msg := _problems(path, project.path)) and "corpus.kind" in msg
    assert "did you mean 'geotiff'?" in msg
    missing = scenario_text("missing", "pass", corpus="\n  kind: xyz\n  path: maps/tiles")
    path = project.makefile(".scenario.yaml", missing=missing)
    msg = _problems(path, project.path)
    assert f"{path}:9:" in msg and "corpus.path: xyz corpus" in msg and "does not exist" in msg
    nopath = scenario_text("nopath", "pass", corpus="{kind: geotiff, zoom: 16}")
    path = project.makefile(".scenario.yaml", nopath=nopath)
    assert "kind geotiff reads a file: give `path:`" in _problems(path, project.path)
    rec = scenario_text("rec", "pass").replace(
        "  synth: {preset: derkachi-60s, seed: 7}",
        "  recording: {kind: px4-ulog, path: logs/x.ulg}",
    )
    path = project.makefile(".scenario.yaml", rec=rec)
    msg = _problems(path, project.path)
    assert f"{path}:5:" in msg and "clip.recording.path: px4-ulog recording" in msg
    deep = scenario_text("deep", "pass", corpus="{kind: geotiff, path: maps/utm.tif, zoom: 30}")
    path = project.makefile(".scenario.yaml", deep=deep)
    assert "corpus.zoom: Input should be less than or equal to 24" in _problems(path, project.path)


def test_each_kind_builds_its_corpus(short_bundle, tmp_path: Path) -> None:
    clip = read_bundle(short_bundle)
    resolve = lambda p: tmp_path / p  # noqa: E731
    own = scenario_corpus(None, clip, resolve, tmp_path)
    assert own.kind == "local-grid"
    assert (
        scenario_corpus(CorpusSpec(kind="bundle", name="xyz"), clip, resolve, tmp_path).kind
        == "xyz"
    )
    write_utm_tiff(tmp_path / "utm.tif")
    geo = scenario_corpus(
        CorpusSpec(kind="geotiff", path="utm.tif", zoom=16, tile_px=64), clip, resolve, tmp_path
    )
    assert geo.kind == "geotiff" and geo.image(0).shape == (64, 64, 3)
    tile = tmp_path / "tiles" / "17" / "77586"
    tile.mkdir(parents=True)
    Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(tile / "44290.png")
    xyz = scenario_corpus(CorpusSpec(kind="xyz", path="tiles"), clip, resolve, tmp_path)
    assert xyz.ids == ["17/77586/44290"]
    with pytest.raises(ClipError, match=r"tiles are 256 px but corpus.tile_px is 512"):
        scenario_corpus(CorpusSpec(kind="xyz", path="tiles", tile_px=512), clip, resolve, tmp_path)
