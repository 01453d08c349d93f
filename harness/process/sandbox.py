"""The wall around a `command:` stack: bubblewrap, so the stack sees what it would in flight.

Inside: the system's programs and libraries read-only (so a program runs), its own program
folder read-only at the same path, the input read-only at /input (its frames/ showing the
frames released so far: harness.process.launch writes them there at release), a private empty
/tmp as its working directory, its own process, IPC and network namespaces (no network, no
other process), a clean environment. Nothing else: not the project tree, not `.cache` (the
clips' truth), not `reports/` (earlier runs' records), not the host's home or /proc.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from harness.errors import ScenarioError, StackError
from harness.process.inputs import FRAMES_DIR

INPUT = "/input"  # where the released input is, in the sandbox and in a container
WORKDIR = "/tmp"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
# What of /etc a program needs to start (the loader's cache, names, time zone), no more.
SYSTEM_FILES = (
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
)
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORKDIR, "LANG": "C.UTF-8"}


def shown(folder: Path, where: str, hidden: list[Path]) -> Path:
    """`folder` (resolved), to be shown to the stack read-only; a ScenarioError naming the
    scenario's `where` when it would show what the stack must not see (the project root, the
    cache, the reports)."""
    folder = folder.resolve()
    for path in hidden:
        if path.resolve().is_relative_to(folder):
            raise ScenarioError(
                f"{where}: {folder} holds {path}, which a stack must not see; put the stack "
                "in a folder of its own (e.g. stacks/NAME/) that holds neither the project "
                "root, .cache nor reports/"
            )
    return folder


@functools.cache
def check() -> None:
    """StackError (the run's infra-error) when bubblewrap is missing or cannot make a
    sandbox here (user namespaces off, a container without the privilege)."""
    if shutil.which("bwrap") is None:
        raise StackError(
            "bubblewrap (bwrap) is not installed: a `command:` stack runs in its sandbox "
            "(docs/adapters.md); install it (Debian: apt-get install bubblewrap, or "
            "scripts/system-deps)"
        )
    probe = ["bwrap", "--unshare-all", *_system(), "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"bubblewrap cannot run here: {exc}") from None
    if done.returncode != 0:
        raise StackError(
            f"bubblewrap cannot make a sandbox here ({done.stderr.strip() or done.returncode}): "
            "a `command:` stack runs only in one; allow unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1; in a container: seccomp and /proc "
            "unconfined, as the e2e-runner service has them) or run the stack as an `image:`"
        )


def _system() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in SYSTEM_FILES:
        args += ["--ro-bind-try", path, path]
    return args


def wrap(
    command: list[str], input_dir: Path, frames_dir: Path, folders: Sequence[Path]
) -> list[str]:
    """`command` as run inside the sandbox (its `{input}` already made /input); the frames
    written at release appear in /input/frames, `folders` (the program's, the scenario's
    `mounts`) read-only at their own paths."""
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in {**ENV, "HARNESS_STACK_INPUT": INPUT}.items():
        args += ["--setenv", key, value]
    args += _system()
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", WORKDIR, "--chdir", WORKDIR]
    args += ["--ro-bind", str(input_dir), INPUT]
    args += ["--ro-bind", str(frames_dir), f"{INPUT}/{FRAMES_DIR}"]
    for folder in folders:
        args += ["--ro-bind", str(folder), str(folder)]
    return [*args, "--", *command]
