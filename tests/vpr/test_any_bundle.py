"""Any legal bundle replays: the oracle needs only truth; a missing stream is a config-error
that names it, never an IndexError."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.gates import conclude
from harness.record import read_record
from harness.reference.models.scaffold import make_scaffold
from harness.run.driver import run
from tests.helpers import TINY_OVERRIDES

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "fixtures"


def _scenario(project: pytest.Pytester, name: str, clip: str, vpr: str) -> Path:
    make_scaffold(project.path / "models" / "tiny.pt", width=8, clusters=8, descriptor_dim=64)
    text = f"""\
format_version: 1
name: {name}
config: configs/operator_replay.yaml
{TINY_OVERRIDES}clip:
  recording: {clip}
vpr: {vpr}
gates: {{retrieval_quality: {{applies: false}}, eskf_divergence: {{warmup_s: 1, min_states: 20}}}}
expect: pass
"""
    return project.makefile(".scenario.yaml", **{name: text})


def _verdict(project: pytest.Pytester, path: Path, cache: Path):
    record = run(path, project.path / path.stem, root=project.path, cache_dir=cache)
    return conclude(record), read_record(record)


def test_oracle_makes_its_own_fixes_without_video_or_corpus(project, tmp_path) -> None:
    ulg = f"{{kind: px4-ulog, path: {REAL / 'px4' / 'sample_log_small.ulg'}}}"
    path = _scenario(
        project, "own-rate", ulg, "{strategy: oracle, rate_hz: 4, oracle: {sigma_m: 3}}"
    )
    verdict, record = _verdict(project, path, tmp_path)
    fixes = [e["t_s"] for e in record.select("eskf", "fix")]
    assert len(fixes) == 25 and fixes[1] - fixes[0] == pytest.approx(0.25)  # 6.19 s of truth
    assert record.provenance["corpus_hash"] is None and verdict.gate == "pass", verdict


def test_missing_streams_are_named_config_errors(project, tmp_path) -> None:
    ulg = f"{{kind: px4-ulog, path: {REAL / 'px4' / 'sample_log_small.ulg'}}}"
    path = _scenario(project, "no-frames", ulg, "{strategy: netvlad, input_px: 64}")
    verdict, _ = _verdict(project, path, tmp_path)
    assert verdict.gate == "config-error" and "needs the clip's frames stream" in verdict.reason
    srt = f"{{kind: dji-srt, path: {REAL / 'dji' / 'real' / 'p4_rtk.SRT'}}}"
    path = _scenario(project, "no-imu", srt, "{strategy: oracle}")
    verdict, _ = _verdict(project, path, tmp_path)
    assert verdict.gate == "config-error" and "the ESKF replay needs the clip's imu stream" in (
        verdict.reason
    )
    assert "simulate_imu" in verdict.reason


def test_netvlad_retrieves_from_the_scenarios_geotiff_corpus(project, tmp_path) -> None:
    from tests.clip.test_geotiff import write_utm_tiff

    (project.path / "maps").mkdir()
    write_utm_tiff(project.path / "maps" / "utm.tif", px_m=4.0)
    make_scaffold(project.path / "models" / "tiny.pt", width=8, clusters=8, descriptor_dim=64)
    text = """\
format_version: 1
name: geotiff-corpus
config: configs/operator_replay.yaml
overrides:
  c10_provisioning.backbones.0.weights_path: models/tiny.pt
  c10_provisioning.backbones.0.runtime: pytorch-fp32
  c10_provisioning.backbones.0.width: 8
  c10_provisioning.backbones.0.clusters: 8
  c10_provisioning.backbones.0.descriptor_dim: 64
clip:
  synth: {preset: derkachi-10s, seed: 3}
corpus: {kind: geotiff, path: maps/utm.tif, zoom: 16, tile_px: 64}
vpr: {strategy: netvlad, rate_hz: 1, input_px: 64}
gates: {vpr_contract: {descriptor_dim: 64}, eskf_divergence: {warmup_s: 3, min_states: 30}}
expect: pass
"""
    path = project.makefile(".scenario.yaml", **{"geotiff-corpus": text})
    verdict, record = _verdict(project, path, tmp_path)
    [corpus] = list(record.select("vpr", "corpus"))
    assert corpus["corpus_hash"] == record.provenance["corpus_hash"] and corpus["tiles"] >= 9
    queries = list(record.select("vpr", "query"))
    assert len(queries) >= 9 and all("/" in q["topk"][0]["tile"] for q in queries)  # z/x/y ids
    assert verdict.gate not in ("config-error", "infra-error"), verdict
