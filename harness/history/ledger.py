"""The gate ledger: one row per (run, scenario) in one SQLite file, safe for concurrent writers.

SQLite in WAL mode with a busy timeout: every row is one transaction, so xdist workers
appending at once never interleave, and a writer killed mid-row leaves the file as it was
before that row (the journal is rolled back or replayed by the next opener). The file is
the whole ledger: keep it in a CI cache or commit it (see docs/reports.md).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.errors import LedgerError

DEFAULT_LEDGER = Path("reports/gate-ledger.sqlite")
SCHEMA_VERSION = 2  # 2: one row per (run, scenario, device): one scenario on several boards
# The hashes that make two runs comparable: the same inputs (clip and tile corpus). The
# checkpoint is not one of them: it is part of the system under test, and a new checkpoint
# moving a scenario's gate is exactly the change the ladder is there to show.
CLASS_KEYS = ("clip_hash", "corpus_hash")
# Run ids of `harness bisect` steps: one scenario at an old commit, never a session's head.
BISECT_PREFIX = "bisect-"


@dataclass(frozen=True)
class Row:
    """One scenario's verdict in one run, with what produced it."""

    run_id: str
    scenario: str
    gate: str
    outcome: str
    time: float = field(default_factory=time.time)
    scenario_path: str = ""
    expect: str | None = None
    status: str | None = None  # the pytest outcome after the ratchet (xfailed, failed, ...)
    reason: str = ""
    git_sha: str | None = None
    runner: str | None = None
    device: str | None = None
    image_digest: str | None = None
    clip_hash: str | None = None
    corpus_hash: str | None = None
    checkpoint_sha256: str | None = None
    config_hash: str | None = None
    scenario_hash: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    # A hash of the uncommitted changes the run saw (None: a clean checkout at git_sha).
    worktree_hash: str | None = None
    # Whether every configured checkpoint was pinned by sha256 (None: none configured).
    checkpoint_pinned: bool | None = None
    # The engine the descriptors came from (the corpus's runtime: pytorch-fp32, openvino-int8,
    # ...; None where no model ran).
    engine: str | None = None

    @property
    def provenance_class(self) -> tuple[str | None, ...]:
        return tuple(getattr(self, k) for k in CLASS_KEYS)

    @property
    def identity(self) -> tuple[str | None, ...]:
        """Everything that should make a rerun give the same gate (for flaky detection)."""
        return (
            *self.provenance_class,
            self.checkpoint_sha256,
            self.config_hash,
            self.scenario_hash,
            self.git_sha,
            self.worktree_hash,
            self.runner,
            self.device,
        )


COLUMNS = tuple(f.name for f in fields(Row))


def on_place(device: str | None, place: str) -> bool:
    """Whether a row's device is that farm place's: `board-1/cpu` (the record's) or the bare
    `board-1` (a run that broke before its record named the accelerator)."""
    return device == place or (device or "").startswith(f"{place}/")


def key_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten a verdict's per-gate metrics to `gate.name -> number` (numbers only)."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(key_metrics(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def row_from_run(
    run_id: str,
    scenario: str,
    verdict: Any,
    record: Any | None,
    *,
    scenario_path: str = "",
    expect: str | None = None,
    status: str | None = None,
) -> Row:
    """A ledger row from a verdict (harness.gates.Verdict) and its parsed run record."""
    prov = dict(record.provenance) if record is not None else {}
    resolved = record.scenario if record is not None else {}
    scenario_hash = (
        hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()
        if resolved
        else None
    )
    return Row(
        run_id=run_id,
        scenario=scenario,
        gate=verdict.gate,
        outcome=verdict.outcome,
        scenario_path=scenario_path,
        expect=expect,
        status=status,
        reason=verdict.reason,
        git_sha=prov.get("git_sha"),
        runner=prov.get("runner"),
        device=prov.get("device"),
        image_digest=prov.get("image_digest"),
        clip_hash=prov.get("clip_hash"),
        corpus_hash=prov.get("corpus_hash"),
        checkpoint_sha256=prov.get("checkpoint_sha256"),
        config_hash=prov.get("config_hash"),
        scenario_hash=scenario_hash,
        metrics=key_metrics(verdict.metrics or {}),
        worktree_hash=prov.get("worktree_hash"),
        checkpoint_pinned=prov.get("checkpoint_pinned"),
        engine=engine_of(record),
    )


def engine_of(record: Any | None) -> str | None:
    """The runtime the run's descriptors came from (its `vpr/corpus` event), None without one."""
    if record is None:
        return None
    runtime = next((e.get("runtime") for e in record.select("vpr", "corpus")), None)
    return runtime if isinstance(runtime, str) else None


def _column(name: str) -> str:
    if name == "time":
        return "time REAL"
    # In the key: SQLite keys treat NULLs as distinct, so "no device" is stored as ''.
    return "device TEXT NOT NULL DEFAULT ''" if name == "device" else f"{name} TEXT"


_TABLE = f"""CREATE TABLE IF NOT EXISTS {{name}} (
    {", ".join(_column(c) for c in COLUMNS)},
    PRIMARY KEY (run_id, scenario, device)
)"""
_CREATE = f"""
{_TABLE.format(name="rows")};
CREATE INDEX IF NOT EXISTS rows_scenario ON rows (scenario, time);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
"""


def _migrate(con: sqlite3.Connection) -> None:
    """Schema 1 keyed rows by (run, scenario): rebuild the table with the device in the key."""
    con.execute("BEGIN IMMEDIATE")
    try:
        found = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if found and found[0] == "1":
            cols = ", ".join(COLUMNS)
            picked = cols.replace("device", "COALESCE(device, '')")
            con.execute(_TABLE.format(name="rows_v2"))
            con.execute(f"INSERT INTO rows_v2 ({cols}) SELECT {picked} FROM rows")
            con.execute("DROP TABLE rows")
            con.execute("ALTER TABLE rows_v2 RENAME TO rows")
            con.execute("CREATE INDEX IF NOT EXISTS rows_scenario ON rows (scenario, time)")
            con.execute(f"UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _use_wal(con: sqlite3.Connection, timeout_s: float) -> None:
    """Switch a new file to WAL once; the switch needs an exclusive lock that writers racing
    to create the file can hold, and SQLite does not wait for it, so retry until the timeout."""
    deadline = time.monotonic() + timeout_s
    while con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            con.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _columns(con: sqlite3.Connection) -> list[str]:
    return [r[1] for r in con.execute("PRAGMA table_info(rows)").fetchall()]


def _add_new_columns(con: sqlite3.Connection) -> None:
    """A ledger written by an older harness gains the columns added since (empty in old rows)."""
    for name in COLUMNS:
        if name not in _columns(con):
            con.execute(f"ALTER TABLE rows ADD COLUMN {name} TEXT")


def _from_db(data: dict[str, Any]) -> Row:
    data["metrics"] = json.loads(data.get("metrics") or "{}")
    data["device"] = data.get("device") or None  # stored as "" in the key
    pinned = data.get("checkpoint_pinned")
    data["checkpoint_pinned"] = None if pinned is None else str(pinned) in ("1", "True", "true")
    return Row(**data)


class Ledger:
    """The ledger file. Cheap to construct; every call opens and closes its own connection."""

    def __init__(self, path: Path | str = DEFAULT_LEDGER, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    @contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
        if not write and not self.path.exists():
            raise LedgerError(f"{self.path}: no gate ledger here; run the scenarios first")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"{self.path}: cannot open the gate ledger ({exc})") from None
        try:
            _use_wal(con, self.timeout_s)
            con.execute("PRAGMA synchronous=NORMAL")
            if write:
                con.executescript(_CREATE)
                _add_new_columns(con)  # first: the schema-1 rebuild copies every column
                _migrate(con)
            yield con
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"{self.path}: the gate ledger is unreadable ({exc})") from None
        finally:
            con.close()

    def connect(self, write: bool = False):
        """A connection for the history modules' own tables (closed on leaving the block)."""
        return self._connect(write)

    def append(self, row: Row) -> None:
        """Store one row atomically (a rerun of the same run, scenario and device replaces it)."""
        values = [
            json.dumps(v, sort_keys=True) if k == "metrics" else v for k, v in asdict(row).items()
        ]
        values[COLUMNS.index("device")] = row.device or ""
        marks = ", ".join("?" for _ in COLUMNS)
        with self._connect(write=True) as con:
            con.execute(
                f"INSERT OR REPLACE INTO rows ({', '.join(COLUMNS)}) VALUES ({marks})", values
            )

    def rows(self, scenario: str | None = None, run_id: str | None = None) -> list[Row]:
        """Rows in time order, optionally of one scenario and/or one run."""
        where, args = [], []
        if scenario is not None:
            where.append("scenario = ?")
            args.append(scenario)
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        with self._connect(write=False) as con:
            # Columns an older ledger lacks read as empty.
            have = [c for c in COLUMNS if c in _columns(con)]
            sql = f"SELECT {', '.join(have)} FROM rows"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY time, run_id, scenario"
            try:
                found = con.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                raise LedgerError(f"{self.path}: not a gate ledger ({exc})") from None
        return [_from_db(dict(zip(have, values, strict=True))) for values in found]

    def runs(self) -> list[str]:
        """Run ids, oldest first (by the first row each run wrote)."""
        first: dict[str, float] = {}
        for row in self.rows():
            first.setdefault(row.run_id, row.time)
        return sorted(first, key=lambda r: first[r])

    def check(self) -> str:
        """SQLite's own integrity check ('ok' when the file is sound)."""
        with self._connect(write=False) as con:
            return con.execute("PRAGMA integrity_check").fetchone()[0]
