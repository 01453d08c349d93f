"""The default trained checkpoint, made by the repo's own recipe once and reused after that.

No weights can be downloaded, so the product scenarios that need trained weights get them
from `harness provision train`'s defaults. Training takes minutes, so its output is kept under
a content key: the job's settings plus the source of every module the weights depend on. A
later session with the same key reuses the file; a change to the recipe trains afresh. A file
lock keeps parallel sessions (and xdist workers) from training the same thing twice.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from harness import atomic
from harness.atomic import build_lock
from harness.build_times import timed
from harness.reference.models.realrecipe import RealTuneJob
from harness.reference.models.recipe import CHECKPOINT_NAME, TrainJob
from harness.reference.sources import PACKAGE, hash_sources

log = logging.getLogger(__name__)

# What the trained weights are a function of, besides the job's settings: the recipe, the
# model, the query alignment and everything that renders the training images.
RECIPE_SOURCES = (
    "reference/models/recipe.py",
    "reference/models/train.py",
    "reference/models/trainjob.py",
    "reference/models/trainset.py",
    "reference/models/features.py",
    "reference/models/evaluate.py",
    "reference/vpr/netvlad.py",
    "reference/vpr/align.py",
    "reference/vpr/preprocess.py",
    "synth",
    "clip",
)
KEY_NAME = "recipe.key"
# ... and, for the fine-tune on real frames, the code that reads and splits them.
REAL_SOURCES = (
    "reference/models/realrecipe.py",
    "reference/models/realset.py",
    "reference/models/finetune.py",
    "reference/attitude.py",
)


def recipe_key(job: TrainJob, package: Path = PACKAGE) -> str:
    """sha256 of the job's settings and the recipe's source files (sorted, by relative path)."""
    h = hashlib.sha256(job.key().encode())
    hash_sources(h, RECIPE_SOURCES, package)
    return h.hexdigest()


def made_under(out_dir: Path, key: str) -> bool:
    """Whether `out_dir` holds a checkpoint stamped with `key` (read without the lock: a
    build in progress shows as not made)."""
    ckpt, stamp = out_dir / CHECKPOINT_NAME, out_dir / KEY_NAME
    try:
        return ckpt.exists() and stamp.read_text().strip() == key
    except OSError:
        return False


def ensure_trained(out_dir: Path, cache_dir: Path, job: TrainJob | None = None) -> Path:
    """The checkpoint in `out_dir` for `job` (default settings): reused if its key matches."""
    job = job or TrainJob()
    out_dir.mkdir(parents=True, exist_ok=True)
    key = recipe_key(job)
    ckpt, stamp = out_dir / CHECKPOINT_NAME, out_dir / KEY_NAME
    with build_lock(ckpt):  # another process training the same: wait for it
        if made_under(out_dir, key):
            return ckpt
        log.info("training the default NetVLAD checkpoint into %s (recipe %s)", out_dir, key[:12])
        stamp.unlink(missing_ok=True)
        from harness.reference.models.trainjob import train_checkpoint  # torch: only to train

        with timed("training", f"{out_dir.name}/{CHECKPOINT_NAME}"):
            train_checkpoint(job, out_dir, cache_dir)
        atomic.write_text(stamp, key + "\n")
    return ckpt


def real_key(job: RealTuneJob, root: Path, cache_dir: Path, package: Path = PACKAGE) -> str:
    """sha256 of the base recipe's key, the fine-tune's settings and code, and the bytes of
    the real survey it reads (images, track, map)."""
    from harness.digest import file_digest

    h = hashlib.sha256(recipe_key(job.base, package).encode())
    h.update(job.key().encode())
    hash_sources(h, REAL_SOURCES, package)
    images = root / job.split.images
    files = sorted(p for p in images.iterdir() if p.is_file()) if images.is_dir() else []
    for path in [*files, root / job.split.track, root / job.split.map]:
        h.update(path.name.encode())
        h.update(file_digest(path, cache_dir).encode())
    return h.hexdigest()


def ensure_finetuned(
    out_dir: Path, base_dir: Path, root: Path, cache_dir: Path, job: RealTuneJob | None = None
) -> Path:
    """The fine-tuned checkpoint in `out_dir`, made from the default one in `base_dir` (itself
    trained first if needed); reused while its key matches."""
    job = job or RealTuneJob()
    base = ensure_trained(base_dir, cache_dir, job.base)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = real_key(job, root, cache_dir)
    ckpt, stamp = out_dir / CHECKPOINT_NAME, out_dir / KEY_NAME
    with build_lock(ckpt):
        if made_under(out_dir, key):
            return ckpt
        log.info("fine-tuning %s on real frames into %s (key %s)", base, out_dir, key[:12])
        stamp.unlink(missing_ok=True)
        from harness.reference.models.finetune import finetune_checkpoint  # torch: only to train

        with timed("training", f"{out_dir.name}/{CHECKPOINT_NAME}"):
            finetune_checkpoint(job, base, out_dir, root, cache_dir)
        atomic.write_text(stamp, key + "\n")
    return ckpt
