"""The farm runner: each pytest worker holds one healthy labgrid place and runs on its board.

Strategy role (labgrid): on its first scenario a worker reserves a place by tags through the
coordinator (harness.runners.places), acquires it and checks its health: the container
runner's preflight on that board's engine (engine, image, GPU runtime) and, when given, a
health scenario that must stop at its `expect`. A place that fails leaves the session: the
worker keeps it locked while it reserves another (so the scheduler cannot hand it back),
then releases it; with no other place free, the worker shares a healthy place of a sibling
worker (one run at a time per board: the engine's device lock). Before and after each run
the worker checks it still holds its place; a place lost mid-run ends that scenario as
infra-error and the next scenario reserves again. Every step is a line in the session's
`farm.jsonl`, which the terminal summary reads.

With `FarmOptions.place` (`--farm-each-place`, harness.runners.farm_each) the runner is one
place's: it reserves exactly that place, and a failed health check ends that place's
scenarios (infra-error) instead of moving them to another board.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from harness.errors import RunnerError
from harness.runners.base import Runner, RunResult
from harness.runners.engine import Engine, device_lock
from harness.runners.places import Claim, Coordinator, FarmError, identity, stale_identity

log = logging.getLogger(__name__)

STATE_NAME = "farm.jsonl"
# After a health failure: how long to look for another free place before sharing one.
RETRY_WAIT_S = 5.0


class FarmState:
    """The session's farm log: one JSON line per event, appended by every worker."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / STATE_NAME

    def add(self, event: str, **fields: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"event": event, "t": time.time(), **fields}) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:  # one short write: atomic
            fh.write(line)

    def events(self) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines if line.strip()]


@dataclasses.dataclass(frozen=True)
class FarmOptions:
    address: str
    tags: dict[str, str]
    wait_s: float = 600.0
    health: Path | None = None
    session_pid: int = dataclasses.field(default_factory=os.getpid)
    worker: str = "main"
    place: str | None = None  # this place only: its scenarios never move to another board

    def pinned(self, place: str) -> FarmOptions:
        """The options of a runner for `place` alone."""
        return dataclasses.replace(self, tags={**self.tags, "name": place}, place=place)


class FarmRunner(Runner):
    """Runs each scenario on this worker's board (a labgrid place)."""

    name = "farm"

    def __init__(
        self, root: Path, cache_dir: Path | None = None, *, options: FarmOptions, run_dir: Path,
        **runner_kw: Any,
    ) -> None:  # fmt: skip
        super().__init__(root, cache_dir)
        self.options = options
        self.state = FarmState(run_dir)
        self.run_dir = run_dir
        self.runner_kw = runner_kw
        self._coord: Coordinator | None = None
        self._claim: Claim | None = None
        self._board: Any = None  # the DockerRunner/JetsonRunner on the board's engine
        self._tags: dict[str, str] = {}
        self._error: str | None = None

    @property
    def device(self) -> str | None:
        """The place this runner's scenarios run on (None until it holds one)."""
        return self._board.device if self._board is not None else None

    @property
    def tags(self) -> dict[str, str]:
        """The labgrid tags of that place."""
        return self._tags if self._board is not None else {}

    # -- getting a board ----------------------------------------------------------------

    def preflight(self) -> None:
        """Hold a healthy board; the first failure is kept and re-raised (no cascade)."""
        if self._board is None and self._error is None:
            try:
                self._take_board()
            except RunnerError as exc:
                self._error = str(exc)
        if self._error:
            raise RunnerError(self._error)

    def _coordinator(self) -> Coordinator:
        if self._coord is None:
            user = identity(self.options.session_pid, self.options.worker)
            self._coord = Coordinator(self.options.address, user)
            if swept := self._coord.sweep(stale_identity(self._coord.host)):
                log.warning("released places of dead sessions: %s", ", ".join(swept))
        return self._coord

    def _board_runner(self, place: str, engine: str, tags: dict[str, str]) -> Any:
        from harness.runners.docker import DockerRunner
        from harness.runners.jetson import JetsonRunner

        cls = DockerRunner if tags.get("target") == "cpu" else JetsonRunner
        return cls(self.root, self.cache_dir, engine=Engine(engine), device=place, **self.runner_kw)

    def _take_board(self) -> None:
        coord = self._coordinator()
        quarantined: list[Claim] = []
        wait = self.options.wait_s
        try:
            while True:
                try:
                    claim = coord.reserve(self.options.tags, wait)
                except FarmError:
                    if not quarantined:
                        raise
                    break  # no other free place: share a sibling's
                board = self._board_runner(claim.place, claim.engine, claim.tags)
                try:
                    problem = self._health(board, claim.place)
                except BaseException:  # a bad --farm-health file, Ctrl-C: let the place go
                    with contextlib.suppress(FarmError):
                        coord.release(claim)
                    raise
                if problem is None:
                    self._claim, self._board, self._tags = claim, board, claim.tags
                    self.state.add(
                        "healthy", place=claim.place, engine=claim.engine, tags=claim.tags,
                        worker=self.options.worker, waited_s=round(claim.waited_s, 3),
                    )  # fmt: skip
                    return
                worker, pinned = self.options.worker, self.options.place is not None
                self.state.add(
                    "left", place=claim.place, reason=problem, worker=worker, pinned=pinned
                )
                log.warning("place %s left the session: %s", claim.place, problem)
                quarantined.append(claim)
                if self.options.place is not None:  # its own scenarios end, nobody else's
                    raise FarmError(f"place {claim.place} left the session: {problem}")
                wait = RETRY_WAIT_S
        finally:
            for claim in quarantined:
                with contextlib.suppress(FarmError):
                    coord.release(claim)
        self._share(quarantined)

    def _health(self, board: Any, place: str) -> str | None:
        """Why the board is unfit for this session, or None."""
        try:
            board.preflight()
        except RunnerError as exc:
            return str(exc)
        if self.options.health is None:
            return None
        from harness.errors import ScenarioError
        from harness.gates.expectation import decide
        from harness.scenario.load import load

        try:
            loaded = load(self.options.health, self.root)
        except ScenarioError as exc:  # the user's file, not the board: stop the session
            raise FarmError(f"--farm-health {self.options.health} does not load: {exc}") from None
        out = self.run_dir / "_health" / place
        verdict = board.run(self.options.health, out, loaded.scenario.timeout_s).verdict()
        decision = decide(loaded.scenario.expect, verdict, loaded.scenario.expect_reason)
        if decision.outcome in ("passed", "xfailed", "skipped"):
            return None
        return f"health scenario {loaded.scenario.name}: {verdict.gate}: {verdict.reason}"

    def _share(self, left: list[Claim]) -> None:
        """Use a sibling worker's healthy place (runs serialise on its device lock), waiting
        while a place with the tags may still pass a sibling's health check."""
        deadline = time.monotonic() + self.options.wait_s
        gone = {c.place for c in left}
        while time.monotonic() < deadline:
            events = self.state.events()
            gone |= {e["place"] for e in events if e["event"] in ("left", "lost")}
            healthy = [e for e in events if e["event"] == "healthy" and e["place"] not in gone]
            if healthy:
                pick = healthy[0]
                self._board = self._board_runner(pick["place"], pick["engine"], pick["tags"])
                self._tags = pick["tags"]
                self._board.preflight()
                self.state.add("shared", place=pick["place"], worker=self.options.worker)
                return
            if {p.name for p in self._coordinator().matching(self.options.tags)} <= gone:
                break  # every place has left: none can turn healthy, so waiting is idle
            time.sleep(1.0)
        raise FarmError(
            f"every place with {self.options.tags} failed its health check "
            f"({', '.join(sorted(gone))}); see the summary's reasons and fix the boards"
        )

    # -- running ------------------------------------------------------------------------

    def run(self, scenario_path: Path, out_dir: Path, timeout_s: float) -> RunResult:
        start = time.monotonic()
        try:
            self._still_held()
            self.preflight()
        except RunnerError as exc:
            spent = time.monotonic() - start
            return RunResult(self.record_path(out_dir), None, spent, [], str(exc))
        board = self._board
        if board.jetson:  # the Jetson runner takes the board's lock itself
            result = board.run(scenario_path, out_dir, timeout_s)
        else:
            with device_lock(board.engine, key=f"farm-place:{board.device}"):
                result = board.run(scenario_path, out_dir, timeout_s)
        self.state.add("ran", place=board.device, scenario=scenario_path.name)
        if self._claim is not None and (why := self._coordinator().lost(self._claim)):
            self._lose(why, scenario_path.name)
            also = f"; {result.infra_error}" if result.infra_error else ""
            error = f"{why} during the run{also}"
            result = dataclasses.replace(result, infra_error=error)
        return result

    def _still_held(self) -> None:
        """Between runs: a place taken away is reserved anew before the next scenario."""
        if self._claim is not None and (why := self._coordinator().lost(self._claim)):
            self._lose(why, None)

    def _lose(self, why: str, scenario: str | None) -> None:
        assert self._claim is not None
        self.state.add("lost", place=self._claim.place, reason=why, scenario=scenario)
        log.warning("%s", why)
        with contextlib.suppress(FarmError):
            self._coordinator().cancel(self._claim.token)
        self._claim, self._board, self._error = None, None, None

    def close(self) -> None:
        """Release the place and end the connection (session end, Ctrl-C, atexit)."""
        if self._coord is None:
            return
        if self._claim is not None:
            with contextlib.suppress(Exception):
                self._coord.release(self._claim)
            self._claim = None
        self._coord.close()
        self._coord = None


def sweep_session(address: str, session_pid: int, worker: str | None = None) -> list[str]:
    """Release what this session's workers (or one dead worker) still hold."""
    sweeper = Coordinator(address, identity(session_pid, "sweeper"))
    try:
        if worker is None:
            return sweeper.sweep(stale_identity(sweeper.host, session_pid))
        owner = f"{sweeper.host}/{identity(session_pid, worker)}"
        return sweeper.sweep(lambda who: who == owner)
    finally:
        sweeper.close()
