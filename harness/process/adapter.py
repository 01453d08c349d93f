"""`pipeline: process`: a stack in any language, run as a process or container, judged by the
same gates as the reference stack. Registered as `process` in `harness.pipelines`."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.digest import file_digest
from harness.errors import ScenarioError
from harness.process import sandbox
from harness.process.inputs import stack_input
from harness.process.launch import Launch, run_stack
from harness.process.protocol import Translator, parse
from harness.process.settings import ProcessScenario, ProcessSpec
from harness.run.feed import Clock
from harness.run.stage import Fix, RunContext, StageStop
from harness.scenario.yamlsafe import read_tree

log = logging.getLogger(__name__)
STDERR_NAME = "stack.stderr"
FRAMES_NAME = "stack-frames"  # in the run folder while the stack runs
IN_CONTAINER = "docker"  # the `--runner` of a run inside the e2e-runner container (any engine)


def _located(ctx: RunContext, loc: tuple[str | int, ...], message: str) -> ScenarioError:
    """A config-error at the scenario's line of `loc` (process.image, process.mounts[i])."""
    tree, source = read_tree(ctx.loaded.path)
    return ScenarioError(str(source.at(tree, loc, message)))


def _image_id(spec: ProcessSpec) -> tuple[str | None, str]:
    """The image's id on this Docker engine, or why there is none."""
    try:
        done = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", spec.image],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"cannot ask the Docker engine for image {spec.image!r}: {exc}"
    if done.returncode != 0:
        return None, (
            f"image {spec.image!r} is not on this Docker engine; build it "
            "(docs/adapters.md) - nothing is pulled"
        )
    return done.stdout.strip(), f"image {spec.image} {done.stdout.strip()}"


def _executable(ctx: RunContext, spec: ProcessSpec) -> tuple[bool, str]:
    """Whether the stack's program is there, and what was found."""
    program = spec.command[0]
    if "/" in program:
        path = ctx.loaded.resolve(Path(program))
        if path.is_file() and os.access(path, os.X_OK):
            return True, str(path)
        return False, f"{path} is not an executable file; fix process.command[0]"
    found = shutil.which(program)
    if found:
        return True, found
    return False, f"{program!r} is not on PATH; give a path in process.command[0]"


def _command(ctx: RunContext, spec: ProcessSpec) -> list[str]:
    if spec.image or "/" not in spec.command[0]:
        return list(spec.command)
    return [str(ctx.loaded.resolve(Path(spec.command[0]))), *spec.command[1:]]


class ProcessPipeline:
    """The stack does VPR and filtering itself; the adapter feeds it and records its output."""

    scenario_model = ProcessScenario

    def query_rate_hz(self, scenario: ProcessScenario) -> float | None:
        """The scenario's `process.rate_hz`: each frame it picks is an answer the gates count."""
        return scenario.process.rate_hz if scenario.process else None

    def provision(self, ctx: RunContext) -> list[Any]:
        spec = ctx.scenario.process
        ctx.emit(
            "provisioning",
            "backbones",
            count=1,
            names=[spec.name],
            what="process",
            source=str(ctx.loaded.path),
        )
        if spec.image:
            return self._image(ctx, spec)
        ok, detail = _executable(ctx, spec)
        program = ctx.settings.program
        if ok and program is not None:  # a program of the project: what ran, by content
            ctx.artifact("program", spec.name, program, file_digest(program), pinned=False)
        ctx.emit("provisioning", "check", backbone=spec.name, check="exists", ok=ok, detail=detail)
        if not ok:
            raise StageStop(detail)
        hidden = [ctx.loaded.root, ctx.cache_dir, ctx.out_dir]
        folders = [] if program is None else [(program.parent, "process.command[0]")]
        for i, mount in enumerate(spec.mounts):
            folder = ctx.loaded.resolve(Path(mount))
            if not folder.is_dir():
                raise _located(ctx, ("process", "mounts", i), (
                    f"{folder} is not a folder on this machine (runner {ctx.runner}); a mount "
                    "outside the project must be where the run runs (the runner's image, the "
                    "board)"
                ))  # fmt: skip
            folders.append((folder, f"process.mounts[{i}]"))
        return [sandbox.shown(f, where, hidden) for f, where in folders]  # all it sees of the host

    def _image(self, ctx: RunContext, spec: ProcessSpec) -> list[Any]:
        """An `image:` stack: refused inside a runner container (it has no engine), else
        checked on this engine and declared by its id."""
        if ctx.runner == IN_CONTAINER:
            raise _located(ctx, ("process", "image"), (
                "an `image:` stack needs a Docker engine where the run driver runs; the "
                "docker, jetson and farm runners run it in a container that has none "
                "(docker-in-docker is not supported): use the local runner, or give the stack "
                "as a `command:` in the project (docs/runners.md)"
            ))  # fmt: skip
        image_id, detail = _image_id(spec)
        if image_id:  # what ran, by content: the bundle carries the reference and the id
            ctx.artifact("image", spec.name, Path(spec.image), image_id, pinned=False)
        ok = image_id is not None
        ctx.emit("provisioning", "check", backbone=spec.name, check="exists", ok=ok, detail=detail)
        if not ok:
            raise StageStop(detail)
        return []

    def fixes(self, ctx: RunContext, engines: list[Any]) -> list[Fix]:
        spec, clip = ctx.scenario.process, ctx.clip
        folder = stack_input(clip, spec.corpus, ctx.cache_dir)
        translator = Translator(clip, clip.corpus(spec.corpus), spec.name, ctx.emit)

        def on_line(number: int, raw: bytes, clock: Clock, arrived: float) -> None:
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                return
            item = parse(number, text)
            if item.type == "ready":
                clock.start()
            released, latency_ms = clock.latency_ms(getattr(item, "frame", None), arrived)
            translator.line(number, item, released, latency_ms)

        deadline = spec.timeout_s or 0.9 * ctx.scenario.timeout_s
        if not spec.image:
            sandbox.check()
        # This run's frames, written at their release, in its own folder (a run killed from
        # outside leaves them there, with its record, not in a shared temporary folder).
        frames = ctx.out_dir / FRAMES_NAME
        shutil.rmtree(frames, ignore_errors=True)
        frames.mkdir(parents=True)
        launch = Launch(
            _command(ctx, spec), folder.resolve(), frames, spec.image, engines, ctx.frame_store
        )
        try:
            run_stack(  # StackError: the driver records it as the run's infra-error
                launch, clip, spec.speed, deadline, ctx.out_dir / STDERR_NAME, on_line, ctx.clock
            )
        finally:
            shutil.rmtree(frames, ignore_errors=True)
        translator.close()
        return []

    def navigate(self, ctx: RunContext, fixes: list[Fix]) -> None:
        """The stack filtered already: its states are in the record."""
