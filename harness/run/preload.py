"""`python -m harness.run.preload`: a run process preloaded once, forked once per scenario.

The local runner starts one per pytest process and sends it one request per scenario (a JSON
line on stdin: the `harness.run` arguments, the caller's environment and working folder). It
forks a child that takes that environment and folder, leads its own process group, dies with
this process (PR_SET_PDEATHSIG), writes stdout and stderr to the run's stderr.log and runs
`harness.run`'s `main`; this process answers `{"pid": N}` when the child starts and
`{"pid": N, "status": S}` when it ended (S as subprocess's returncode: -signal when killed).
A crash, `os._exit` or a kill of the child ends only that child: this process forks the next
one from the same preloaded state, so nothing a scenario changed reaches the next.

What is preloaded is the framework's scenario-independent part (the driver, the scenario
model, the clip readers: numpy, scipy, pydantic), never a stack: torch and the like are
imported by the child whose stack needs them. An installed stack may name what every run of
it loads again and again in the `harness.preload` entry-point group (a function: a library's
import, compiled code; never a model): each is called once here, before the first fork. One
whose modules are not installed (a stack without its extra) is passed over: its runs say so
themselves. Any other failure keeps this process from starting, and the runner then starts
each run fresh. This process starts no thread, so forking it is safe. It ends when its stdin
closes (the runner went away).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from importlib.metadata import entry_points
from typing import Any

# A library, not a stack: scipy.stats takes ~0.6 s to import and the reference filter's
# filterpy pulls it in on every ESKF run; the stack's own modules still load in the child.
import scipy.stats  # noqa: F401

# Preloaded: what the driver imports on first use, for every scenario with a clip.
import harness.clip.corpus_source
import harness.clip.load
import harness.synth.make  # noqa: F401
from harness import deathsig
from harness.run.__main__ import main

PRELOAD_GROUP = "harness.preload"


def _child(request: dict[str, Any], parent: int, control: tuple[int, int]) -> None:
    """In the forked child: become the run's process, run it, never return."""
    rc = 1
    try:
        os.setsid()
        deathsig.die_with(parent)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        # As a fresh Python starts: a write to a pipe whose reader is gone (a stack that
        # exited, its launcher's pipe) is a BrokenPipeError the adapter reports, not a
        # SIGPIPE that kills the run before its end line.
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        log = os.open(request["stderr"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in {log, null, *control} - {0, 1, 2}:  # the control pipes are this process's
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        rc = main(request["argv"])
    except SystemExit as exc:  # argparse and friends: as `python -m harness.run` would exit
        rc = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()  # into the run's stderr.log, as a fresh process would print it
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(rc)


def _returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def serve(requests: int, replies: int) -> None:
    """Fork one child per request line read from fd `requests`; answer on fd `replies`."""
    me = os.getpid()

    def reply(obj: dict[str, Any]) -> None:
        os.write(replies, (json.dumps(obj) + "\n").encode())

    reply({"ready": me})
    with os.fdopen(requests, "rb", buffering=0, closefd=False) as lines:
        for line in iter(lines.readline, b""):
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _child(request, me, (requests, replies))
            reply({"pid": pid})
            _, status = os.waitpid(pid, 0)
            reply({"pid": pid, "status": _returncode(status)})


if __name__ == "__main__":
    # The replies get their own descriptor: whatever a module prints cannot corrupt them.
    out = os.dup(1)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner ends it (stdin closes)
    for warm in entry_points(group=PRELOAD_GROUP):
        try:
            warm.load()()
        except ModuleNotFoundError:
            continue
    serve(0, out)
