"""Pinning checkpoints: bytes that do not depend on the file name, `harness provision pin`, and
the warning every verdict of an unpinned checkpoint carries."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from harness.commands.main import main
from harness.digest import file_digest
from harness.reference.models.importer import import_checkpoint
from harness.reference.models.scaffold import make_scaffold
from harness.reference.operator_config import OperatorConfig
from harness.scenario.load import read_yaml
from tests.vpr.test_import import TINY, save_source, source_model


def test_a_written_checkpoint_does_not_depend_on_its_file_name(tmp_path: Path) -> None:
    a = make_scaffold(tmp_path / "a" / "netvlad.pt", **TINY)
    b = make_scaffold(tmp_path / "elsewhere" / "renamed-scaffold.pt", **TINY)
    assert a == b == file_digest(tmp_path / "elsewhere" / "renamed-scaffold.pt")
    src = save_source(source_model(False, True, False), tmp_path / "src.pth.tar")
    one = import_checkpoint(src, tmp_path / "x" / "one.pt", **TINY)
    two = import_checkpoint(src, tmp_path / "y" / "two-other-name.pt", **TINY)
    assert one.sha256 == two.sha256
    # what the fixed inner name prevents: torch.save stores the file's name in the archive
    state = torch.load(tmp_path / "a" / "netvlad.pt", weights_only=True)
    torch.save(state, tmp_path / "p.pt")
    torch.save(state, tmp_path / "q.pt")
    digests = {hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("p.pt", "q.pt")}
    assert len(digests) == 2
    assert not [p for p in tmp_path.rglob(".*") if p.name.startswith(".")]  # no staging left


def _project(tmp_path: Path) -> Path:
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "operator_replay.yaml"
    config.write_text((repo / "configs" / "operator_replay.yaml").read_text())
    return config


def test_pin_writes_the_sha256_and_keeps_the_config_s_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = _project(tmp_path)
    before = config.read_text()
    sha = make_scaffold(tmp_path / "models" / "netvlad" / "netvlad.pt", **TINY)
    assert main(["provision", "pin", "--config", str(config)]) == 0
    assert f"netvlad-vgg16: models/netvlad/netvlad.pt sha256 {sha}" in capsys.readouterr().out
    after = config.read_text()
    assert f"sha256: {sha}" in after and "sha256: null" not in after
    comments = [line for line in before.splitlines() if line.strip().startswith("#")]
    assert comments and all(c in after for c in comments)
    assert after.replace(sha, "null") == before  # nothing else moved
    pinned = OperatorConfig.model_validate(read_yaml(config))
    assert pinned.c10_provisioning.backbones[0].sha256 == sha
    assert sorted(p.name for p in config.parent.iterdir()) == ["operator_replay.yaml"]


def test_pin_errors_name_what_is_wrong_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = _project(tmp_path)
    before = config.read_text()
    assert main(["provision", "pin", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "models/netvlad/netvlad.pt does not exist" in err and "harness provision" in err
    assert main(["provision", "pin", "--config", str(config), "--backbone", "nope"]) == 1
    assert "no backbone named nope; the config has netvlad-vgg16" in capsys.readouterr().err
    assert main(["provision", "pin", "--config", str(tmp_path / "none.yaml")]) == 1
    assert "no operator config here" in capsys.readouterr().err
    assert config.read_text() == before  # a failed pin leaves the file as it was


def test_pin_adds_a_missing_sha256_key_at_the_entry_s_indent(tmp_path: Path) -> None:
    config = _project(tmp_path)
    text = "\n".join(line for line in config.read_text().splitlines() if "sha256" not in line)
    config.write_text(text + "\n")
    sha = make_scaffold(tmp_path / "models" / "netvlad" / "netvlad.pt", **TINY)
    assert main(["provision", "pin", "--config", str(config)]) == 0
    assert f"    - name: netvlad-vgg16\n      sha256: {sha}\n" in config.read_text()
    pinned = OperatorConfig.model_validate(read_yaml(config))
    assert pinned.c10_provisioning.backbones[0].sha256 == sha
