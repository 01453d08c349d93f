"""Inputs the product scenarios need, made before they run: checkpoints from our own code.

Nothing large is committed: the full-size scaffold (models/netvlad/), the small test
checkpoints and the trained checkpoint (models/scenarios/) are git-ignored and rebuilt only
when missing, and only those the selected scenarios name. Collection does no model work
(`--collect-only` builds nothing): the builds run once the session is about to run its
scenarios, in each process that runs them (not the xdist controller), each under a file lock
with an atomic write (harness.atomic), so two workers never make the same file twice.
The trained one is the default `harness provision train` recipe, kept under a
content key (settings + recipe source): the first session that selects a scenario using it
trains it (minutes) and later ones reuse it until the recipe changes. Training starts in a
background process (niced, its log in .cache/) when the session starts, so the scenarios
that do not need it run meanwhile; one that does waits for it at its setup.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.atomic import build_lock
from harness.build_times import timed

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models" / "scenarios"
# The full-size scaffold where configs/operator_replay.yaml expects the onboard checkpoint.
SCAFFOLD = ROOT / "models" / "netvlad" / "netvlad.pt"
# NetVLAD's default init (centroids uniform in [0, 1)) on the full VGG16 encoder: every
# descriptor collapses to one vector. 8 clusters and a 64-d PCA collapse as the full head does
# (the centroids dwarf the unit features); the full one would add a 512 MiB PCA to show it.
COLLAPSED = MODELS / "default-init-8x64.pt"
COLLAPSED_LAYOUT = {"clusters": 8, "descriptor_dim": 64}
# The default recipe's trained weights (scenarios/vpr/derkachi-trained.scenario.yaml).
TRAINED_DIR = MODELS / "trained"
# The trained checkpoint fine-tuned on real survey frames (real-imagery/zr10-finetuned).
FINETUNED_DIR = MODELS / "real-finetuned"
# The background training's log (its progress while the scenarios run).
TRAINING_LOG = ROOT / ".cache" / "training-background.log"
# A small NetVLAD in the full layout's shape family (see the `width` etc. overrides).
TINY = {"width": 8, "clusters": 8, "descriptor_dim": 64}


class NotATensor:
    """Pickled into a checkpoint so that torch.load(weights_only=True) must refuse it."""


def _save(state: object, path: Path) -> None:
    import torch

    from harness.atomic import atomic_path
    from harness.reference.models.checkpoint_io import INNER_NAME

    # Under one fixed inner name: torch stores the file name in the archive, so the bytes
    # (and the sha256 a scenario pins) stay the same wherever the file lands.
    with atomic_path(path, inner_name=INNER_NAME) as tmp:
        torch.save(state, tmp)


def tiny_state() -> dict:
    import torch

    from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision

    torch.manual_seed(0)
    model = NetVladVgg16(**TINY)
    init_like_torchvision(model)
    return model.state_dict()


def make_trained(config: pytest.Config, finetuned: bool = False) -> Path:
    """The trained checkpoint (or the one fine-tuned on real frames), training it first if
    needed with its log on the terminal."""
    capture = config.pluginmanager.getplugin("capturemanager")  # None under -p no:capture
    uncaptured = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[provision train] %(message)s"))
    logger = logging.getLogger("harness.reference.models")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    from harness.reference.models.trained import ensure_finetuned, ensure_trained

    try:
        with uncaptured:
            if finetuned:
                return ensure_finetuned(FINETUNED_DIR, TRAINED_DIR, ROOT, ROOT / ".cache")
            return ensure_trained(TRAINED_DIR, ROOT / ".cache")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _collapsed(path: Path) -> None:
    import torch

    from harness.reference.vpr.netvlad import NetVladVgg16, init_like_torchvision

    torch.manual_seed(0)
    model = NetVladVgg16(**COLLAPSED_LAYOUT)
    init_like_torchvision(model)
    _save(model.state_dict(), path)


def _wrong_layout(path: Path) -> None:
    import torch

    broken = dict(tiny_state())
    del broken["pca.bias"]
    broken["pool.centroids"] = torch.zeros(8, 32)
    broken["head.weight"] = torch.zeros(3)
    _save(broken, path)


def _pickled_code(path: Path) -> None:
    import torch

    _save({"encoder.0.weight": torch.zeros(1), "note": NotATensor()}, path)


def _scaffold(path: Path) -> None:
    from harness.reference.models.scaffold import make_scaffold

    make_scaffold(path)


BUILDERS = {
    SCAFFOLD: _scaffold,
    COLLAPSED: _collapsed,
    MODELS / "tiny-netvlad.pt": lambda path: _save(tiny_state(), path),
    MODELS / "tiny-wrong-layout.pt": _wrong_layout,
    MODELS / "pickled-code.pt": _pickled_code,
}


def _named(items: list[pytest.Item]) -> set[str]:
    """The checkpoint paths the selected scenarios name (absolute, links kept)."""
    named = set()
    for item in items:
        loaded = getattr(item, "loaded", None)
        for stack_file in loaded.settings.files() if loaded else ():
            if stack_file.role == "checkpoint":  # the reference stack's; a black box has none
                named.add(os.path.abspath(stack_file.path))
    return named


def _wants(item: pytest.Item) -> tuple[bool, bool]:
    """(the trained checkpoint, the fine-tuned one): what this scenario's file names."""
    return _named_in(item.path)


@functools.cache  # asked when sorting, at the session's start and at each setup
def _named_in(path: Path) -> tuple[bool, bool]:
    text = path.read_text()
    return (
        str(TRAINED_DIR.relative_to(ROOT)) in text,
        str(FINETUNED_DIR.relative_to(ROOT)) in text,
    )


def _untrained(finetuned: bool) -> bool:
    """Whether the trained (or, with `finetuned`, the fine-tuned) checkpoint is missing or
    stale (torch-free: keys and stamps only)."""
    from harness.reference.models.realrecipe import RealTuneJob
    from harness.reference.models.recipe import TrainJob
    from harness.reference.models.trained import made_under, real_key, recipe_key

    if finetuned:
        return not made_under(FINETUNED_DIR, real_key(RealTuneJob(), ROOT, ROOT / ".cache"))
    return not made_under(TRAINED_DIR, recipe_key(TrainJob()))


# Run by the background process: the same calls a scenario's setup makes, so whichever
# reaches the lock first trains and the other finds the checkpoint made.
_TRAIN_IN_BACKGROUND = """
import logging, signal, sys
from pathlib import Path
from harness.reference.models.trained import ensure_finetuned, ensure_trained
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # ended early: temp files cleaned up
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
trained, finetuned, root = (Path(arg) for arg in sys.argv[1:4])
ensure_trained(trained, root / ".cache")
if sys.argv[4] == "1":
    ensure_finetuned(finetuned, trained, root, root / ".cache")
"""


def _start_training(config: pytest.Config, finetuned: bool) -> subprocess.Popen:
    """Train in a niced background process while the scenarios that need no training run;
    it dies with this one, and the session ends it (train_state.pt resumes it next time)."""
    from harness.deathsig import die_with

    TRAINING_LOG.parent.mkdir(parents=True, exist_ok=True)
    parent = os.getpid()

    def nice_and_tied() -> None:
        os.nice(10)  # the scenarios first: their latency budgets are measured meanwhile
        die_with(parent)

    with open(TRAINING_LOG, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", _TRAIN_IN_BACKGROUND, str(TRAINED_DIR), str(FINETUNED_DIR),
             str(ROOT), "1" if finetuned else "0"],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=ROOT, preexec_fn=nice_and_tied,
        )  # fmt: skip
    what = "the default checkpoint" + (" and its fine-tune on real frames" if finetuned else "")
    _say(config, f"training {what} in the background (log: {TRAINING_LOG.relative_to(ROOT)})")
    return proc


def _say(config: pytest.Config, line: str) -> None:
    writer = config.pluginmanager.getplugin("terminalreporter")
    if writer is not None:
        writer.write_line(f"[provision train] {line}")


_background: list[subprocess.Popen] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Scenarios that need a trained checkpoint run last (in their order otherwise), the
    fine-tuned one's after the trained one's: the background training then has every other
    scenario's time to finish in."""
    items.sort(key=lambda item: _wants(item)[::-1])


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Make what the selected scenarios need before they run (never when collecting, never
    on an xdist controller, which runs nothing); start training in the background."""
    config = session.config
    controller = config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput")
    if config.option.collectonly or controller or not session.items:
        return
    named = _named(session.items)
    for path, build in BUILDERS.items():
        if os.path.abspath(path) in named and not path.exists():
            kind = "scaffold" if path == SCAFFOLD else "test checkpoints"
            with build_lock(path), timed(kind, path.name):
                if not path.exists():
                    build(path)
    wants = [_wants(item) for item in session.items]
    finetuned = any(tuned for _, tuned in wants)
    first = getattr(config, "workerinput", {}).get("workerid", "gw0") == "gw0"  # one trainer
    stale = _untrained(False) or (finetuned and _untrained(True))
    if first and any(base or tuned for base, tuned in wants) and stale:
        _background.append(_start_training(config, finetuned))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A scenario that needs a trained checkpoint gets it here: waiting for the background
    training, or training itself if that one is gone (its error then lands on this item)."""
    base, tuned = _wants(item)
    if not (base or tuned) or not _untrained(tuned):
        return
    if any(proc.poll() is None for proc in _background):
        _say(item.config, f"{item.name} waits for the background training ({TRAINING_LOG.name})")
    make_trained(item.config, finetuned=tuned)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """No training outlives the session (a selection that stopped early, -x, Ctrl-C)."""
    while _background:
        proc = _background.pop()
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
