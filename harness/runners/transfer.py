"""A run's inputs into a container and its results out, through the engine's archive API.

Nothing here assumes the host's paths exist where the engine runs (a board reached over the
network): the inputs a scenario needs (the harness code, the project's marker and configs,
the scenario, the checkpoints and clip bundle it names, a process stack's program folder and
mounts in the project) are packed into one tar that `put_archive` unpacks into the created
container, and `/results` comes back with `get_archive`. Paths keep their place relative to
the project root (`/work/project`), so the run resolves them exactly as a local run does; an
absolute path outside the project keeps its absolute path inside the container.
"""

from __future__ import annotations

import logging
import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

import harness
from harness.errors import RunnerError

if TYPE_CHECKING:
    from harness.scenario.model import StackFile

log = logging.getLogger(__name__)

PROJECT = PurePosixPath("/work/project")
RESULTS = PurePosixPath("/results")
CACHE = PurePosixPath("/cache")
# Folders the archive creates: /results and the cache volume are writable by any container
# user (the board's uid has nothing to do with the caller's), sticky like /tmp.
WRITABLE = (RESULTS, CACHE)
_SKIP = {"__pycache__", ".pytest_cache", ".mypy_cache"}
FOLDERS = ("program", "mount")  # stack files that travel with their whole folder


def _files_under(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not _SKIP.intersection(path.relative_to(folder).parts):
            yield path


def _with_sidecars(path: Path) -> list[Path]:
    """A checkpoint and the files named after it (`netvlad.pt` + `netvlad.provenance.json`)."""
    if path.is_dir():
        return list(_files_under(path))
    if not path.is_file():
        return []  # missing: the run itself reports it (provisioning), as it does locally
    stem = path.name.split(".", 1)[0]
    return sorted(p for p in path.parent.glob(f"{stem}.*") if p.is_file())


def _folder(stack_file: StackFile, root: Path) -> list[Path]:
    """A process stack's program folder (all it sees of the project) or a mounted folder of
    the project, whole; one outside the project is the runner's own (the scenario names where
    it lives there), never copied from this machine."""
    folder = stack_file.path.parent if stack_file.role == "program" else stack_file.path
    if not _absolute(folder).is_relative_to(_absolute(root)) or not folder.is_dir():
        return []
    return list(_files_under(folder))


def _absolute(path: Path) -> Path:
    """Absolute without resolving links: a linked `models/` keeps its place in the project."""
    return Path(os.path.abspath(path))


def inside(path: Path, root: Path) -> PurePosixPath:
    """Where a host file goes in the container: its place under the project, else itself."""
    path = _absolute(path)
    try:
        return PROJECT / path.relative_to(_absolute(root)).as_posix()
    except ValueError:
        return PurePosixPath(path.as_posix())


def scenario_inputs(scenario: Path, root: Path) -> dict[PurePosixPath, Path]:
    """Where each input goes in the container -> the host file, for one scenario.

    A scenario that does not load ships as it is: the run in the container reports the same
    config-error a local run would.
    """
    from harness.errors import ScenarioError
    from harness.scenario.load import load

    wanted: list[Path] = [scenario]
    if (root / "pyproject.toml").is_file():
        wanted.append(root / "pyproject.toml")  # the project-root marker
    if (root / "configs").is_dir():
        wanted.extend(_files_under(root / "configs"))
    try:
        loaded = load(scenario, root)
    except (ScenarioError, OSError):
        loaded = None
    if loaded is not None:
        for stack_file in loaded.settings.files():  # the stack's config, checkpoints, ...
            if stack_file.role == "checkpoint":
                wanted.extend(_with_sidecars(stack_file.path))
            elif stack_file.role in FOLDERS:
                wanted.extend(_folder(stack_file, root))
            elif stack_file.path.is_file():
                wanted.append(stack_file.path)
        if (bundle := loaded.scenario.clip.bundle) is not None:
            wanted.extend(_with_sidecars(loaded.resolve(bundle)))
    placed = {inside(path, root): _absolute(path) for path in wanted}
    code = Path(harness.__file__).resolve().parent
    for path in _files_under(code):
        placed[PROJECT / "harness" / path.relative_to(code).as_posix()] = path
    return placed


def _dir_entry(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    return info


def pack(inputs: dict[PurePosixPath, Path], out: IO[bytes]) -> int:
    """Write the inputs as one tar rooted at `/` (owned by root, world-readable); its size."""
    dirs: set[PurePosixPath] = set()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for folder in WRITABLE:
            tar.addfile(_dir_entry(str(folder).lstrip("/"), 0o1777))
        for inside, host in sorted(inputs.items()):
            for parent in reversed(inside.parents[:-1]):
                if parent not in dirs and parent not in WRITABLE:
                    dirs.add(parent)
                    tar.addfile(_dir_entry(str(parent).lstrip("/"), 0o755))
            info = tar.gettarinfo(str(host), arcname=str(inside).lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755 if info.mode & 0o111 else 0o644
            with host.open("rb") as fh:
                tar.addfile(info, fh)
    return out.tell()


def put_inputs(container: Any, inputs: dict[PurePosixPath, Path]) -> int:
    """Unpack the inputs into a created (not yet started) container; bytes sent."""
    with tempfile.TemporaryFile() as spool:
        size = pack(inputs, spool)
        spool.seek(0)
        if not container.put_archive("/", spool):
            raise RunnerError(f"the engine refused the inputs archive ({size} bytes)")
    log.debug("sent %d input file(s), %.1f MiB", len(inputs), size / 2**20)
    return size


def fetch_results(container: Any, out_dir: Path) -> int:
    """Copy the container's /results into `out_dir` (works after it exited); files written."""
    stream, _stat = container.get_archive(str(RESULTS))
    count = 0
    with tempfile.TemporaryFile() as spool:
        for chunk in stream:
            spool.write(chunk)
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r") as tar:
            for member in tar.getmembers():
                parts = PurePosixPath(member.name).parts
                if len(parts) < 2 or not (member.isfile() or member.isdir()):
                    continue  # the top folder itself, links, devices
                member.name = str(PurePosixPath(*parts[1:]))
                tar.extract(member, out_dir, filter="data")
                count += member.isfile()
    return count
