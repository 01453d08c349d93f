"""Board reservations through labgrid's coordinator: reserve by tags, acquire, check, release.

Resource role (labgrid): a place is a board; its tags say what it is (`board=orin-nano`,
`jetpack=6.2`) and its Docker engine is exported as a `NetworkService` (labgrid has no
exportable Docker resource): `address`/`username`/`port` of the board's SSH endpoint, reached
as `ssh://user@address:port`; an address that is already an engine URL (`unix://`, `tcp://`)
is used as it is (stand-in boards on one machine). Each process talks to the coordinator as
its own identity `harness.<session pid>.<worker>` (labgrid's `LG_USERNAME`), so one dead
xdist worker's locks can be released exactly (`release-from`) and a later session on this
host can sweep those of a session whose process is gone. labgrid is imported lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from harness.errors import RunnerError
from harness.runners.base import pid_alive

DEFAULT_PORT = 20408
PREFIX = "harness."
ENGINE_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://")
CALL_TIMEOUT_S = 30.0
# labgrid's client keepalive settings (a dead coordinator is noticed in ~20 s).
KEEPALIVE = [
    ("grpc.keepalive_time_ms", 7500),
    ("grpc.keepalive_timeout_ms", 10000),
    ("grpc.http2.ping_timeout_ms", 10000),
    ("grpc.http2.max_pings_without_data", 0),
]


class FarmError(RunnerError):
    """The farm could not give this worker a board (no coordinator, no place, timeout)."""


def identity(session_pid: int, worker: str) -> str:
    """The labgrid user name of one worker of one pytest session."""
    return f"{PREFIX}{session_pid}.{worker}"


def parse_tags(text: str) -> dict[str, str]:
    """`board=orin-nano,jetpack=6.2` -> a dict; keys as labgrid requires ([a-z][a-z0-9_]*)."""
    import re

    tags = {}
    for pair in filter(None, (p.strip() for p in text.replace(" ", ",").split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", key) or not value:
            raise FarmError(
                f"--farm-tags: {pair!r} is not a tag filter; write key=value pairs with "
                "lowercase keys, e.g. --farm-tags board=orin-nano,jetpack=6.2"
            )
        tags[key] = value
    return tags


def engine_url(params: dict[str, Any]) -> str:
    """The Docker engine of a place from its NetworkService parameters."""
    address = str(params.get("address", ""))
    if address.startswith(ENGINE_SCHEMES):
        return address
    user = params.get("username") or "root"
    port = int(params.get("port") or 22)
    return f"ssh://{user}@{address}:{port}"


@dataclass(frozen=True)
class Claim:
    """A place this process holds: its name, reservation token, engine and tags."""

    place: str
    token: str
    engine: str
    tags: dict[str, str] = field(default_factory=dict)
    waited_s: float = 0.0


class Coordinator:
    """One connection to a labgrid coordinator as one identity, served by its own thread."""

    def __init__(self, address: str, user: str) -> None:
        self.address = address
        self.user = user
        self.host = socket.gethostname()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self.session = self._call(self._start(), timeout_s=CALL_TIMEOUT_S)
        except Exception as exc:
            self._stop_loop()
            raise FarmError(
                f"no labgrid coordinator answers at {address} ({type(exc).__name__}: {exc}); "
                "start one (labgrid-coordinator) or fix --lg-coordinator / LG_COORDINATOR"
            ) from None

    @property
    def owner(self) -> str:
        return f"{self.host}/{self.user}"

    async def _start(self) -> Any:
        import grpc
        from labgrid.remote.client import ClientSession
        from labgrid.remote.generated import labgrid_coordinator_pb2_grpc
        from labgrid.util.proxy import proxymanager

        user, host = self.user, self.host

        class Session(ClientSession):  # this identity, whatever LG_USERNAME says
            def __attrs_post_init__(self) -> None:
                super().__attrs_post_init__()
                # The coordinator tells clients apart by their connection: a private
                # subchannel lets two identities share one process (tests, the sweep).
                self.channel = grpc.aio.insecure_channel(
                    self.address,
                    options=[("grpc.use_local_subchannel_pool", 1), *KEEPALIVE],
                )
                self.stub = labgrid_coordinator_pb2_grpc.CoordinatorStub(self.channel)

            def getuser(self) -> str:
                return user

            def gethostname(self) -> str:
                return host

        address = proxymanager.get_grpc_address(self.address, default_port=DEFAULT_PORT)
        session = Session(address, self._loop)
        await session.start()
        return session

    def _call(self, coro: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except FutureTimeout:
            future.cancel()
            raise FarmError(
                f"the coordinator at {self.address} did not answer in {timeout_s:g} s"
            ) from None

    def _rpc(self, rpc: str, **request: Any) -> Any:
        """One coordinator call; gRPC errors become FarmError with the coordinator's words."""
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        message = getattr(pb2, f"{rpc}Request")(**request)

        async def call() -> Any:
            return await getattr(self.session.stub, rpc)(message)

        try:
            return self._call(call())
        except grpc.aio.AioRpcError as exc:
            raise FarmError(f"{rpc}: {exc.details()}") from None

    def sync(self) -> None:
        """Wait until the place and resource tables reflect everything done so far."""
        self._call(self.session.sync_with_coordinator())

    # -- places -----------------------------------------------------------------------

    def places(self) -> dict[str, Any]:
        self.sync()
        return dict(self.session.places)

    def matching(self, tags: dict[str, str]) -> list[Any]:
        # `name=PLACE` picks one place by name, as labgrid's scheduler allows
        places = self.places().values()
        return [p for p in places if tags.items() <= {**p.tags, "name": p.name}.items()]

    def place_engine(self, name: str) -> str:
        """The engine URL of a place this process holds (its NetworkService resource)."""
        place = self.places()[name]
        for path in place.acquired_resources:
            exporter, group, cls, resource = path
            if cls == "NetworkService":
                entry = self.session.resources[exporter][group][resource]
                return engine_url(entry.params)
        raise FarmError(
            f"place {name} has no NetworkService resource for its Docker engine; add one "
            f"(labgrid-client -p {name} add-match EXPORTER/GROUP/NetworkService)"
        )

    def lost(self, claim: Claim) -> str | None:
        """Why this process no longer holds the place, or None while it does."""
        try:
            place = self.places().get(claim.place)
        except Exception as exc:
            return f"the coordinator is gone ({type(exc).__name__}: {exc})"
        if place is None:
            return f"place {claim.place} was deleted"
        if place.acquired != self.owner:
            holder = f"now held by {place.acquired}" if place.acquired else "released"
            return f"place {claim.place} was taken from this session ({holder})"
        for exporter, group, _cls, resource in place.acquired_resources:
            entry = self.session.resources.get(exporter, {}).get(group, {}).get(resource)
            if entry is None or not entry.avail:
                return f"place {claim.place}: exporter {exporter} is gone"
        return None

    # -- reservations -----------------------------------------------------------------

    def reserve(
        self, tags: dict[str, str], timeout_s: float, poll_s: float = 1.0, prio: float = 0.0
    ) -> Claim:
        """Reserve a place matching `tags` and acquire it, waiting at most `timeout_s`."""
        from labgrid.remote.common import Reservation, ReservationState
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        if not self.matching(tags):
            raise FarmError(
                f"no place on {self.address} has the tags {_fmt(tags)}; see "
                "`labgrid-client places` and `labgrid-client -p NAME show` for what exists"
            )
        start = time.monotonic()
        filters = {"main": pb2.Reservation.Filter(filter=tags)}
        token = self._rpc("CreateReservation", filters=filters, prio=prio).reservation.token
        try:
            while True:
                res = Reservation.from_pb2(self._rpc("PollReservation", token=token).reservation)
                if res.state is ReservationState.allocated:
                    place = res.allocations["main"][0]
                    self._rpc("AcquirePlace", placename=place)
                    engine = self.place_engine(place)
                    tags_now = dict(self.places()[place].tags)
                    return Claim(place, token, engine, tags_now, time.monotonic() - start)
                if res.state is not ReservationState.waiting:
                    raise FarmError(f"reservation {token} for {_fmt(tags)} became {res.state.name}")
                if time.monotonic() - start > timeout_s:
                    raise FarmError(
                        f"no place with {_fmt(tags)} became free within {timeout_s:g} s "
                        f"(--farm-wait); held now: {self._holders(tags)}"
                    )
                time.sleep(poll_s)
        except BaseException:
            self.cancel(token)
            raise

    def _holders(self, tags: dict[str, str]) -> str:
        held = [f"{p.name} by {p.acquired}" for p in self.matching(tags) if p.acquired]
        return ", ".join(held) or "none (reserved by others' pending reservations)"

    def cancel(self, token: str) -> None:
        with contextlib.suppress(FarmError):  # already gone (expired, or swept)
            self._rpc("CancelReservation", token=token)

    def release(self, claim: Claim, owner: str | None = None) -> None:
        """Release the place only if `owner` (default: this identity) holds it; cancel."""
        self._rpc("ReleasePlace", placename=claim.place, fromuser=owner or self.owner)
        self.cancel(claim.token)

    def sweep(self, stale: Callable[[str], bool]) -> list[str]:
        """Release places and cancel reservations whose owner `host/user` is `stale`."""
        swept = []
        for place in self.places().values():
            holder = place.acquired
            if holder and stale(holder):
                self._rpc("ReleasePlace", placename=place.name, fromuser=holder)
                swept.append(f"{place.name} (held by {holder})")
        for res in self._rpc("GetReservations").reservations:
            if stale(res.owner):
                self.cancel(res.token)
        return swept

    def close(self) -> None:
        try:
            self._call(self.session.stop(), timeout_s=5)
            self._call(self.session.close(), timeout_s=5)
        except Exception:  # closing a dead connection: nothing left to do
            pass
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _fmt(tags: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "(any)"


def stale_identity(host: str, session_pid: int | None = None) -> Callable[[str], bool]:
    """A predicate for `sweep`: this host's harness identities of dead sessions, or of
    `session_pid` (this session's own, at its end or when a worker died)."""

    def stale(owner: str) -> bool:
        who_host, _, user = owner.partition("/")
        if who_host != host or not user.startswith(PREFIX):
            return False
        pid = user[len(PREFIX) :].split(".", 1)[0]
        if not pid.isdigit():
            return False
        return int(pid) == session_pid if session_pid is not None else not pid_alive(int(pid))

    return stale
