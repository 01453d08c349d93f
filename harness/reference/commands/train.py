"""`harness provision train|test`: NetVLAD retrieval weights for the stand-in, and their recall."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from harness.errors import HarnessError
from harness.reference import extra

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("models/netvlad")
DEFAULT_CACHE = Path(".cache")


def load_weights(path: Path):
    """A checkpoint in the upstream layout, its width/clusters/dim read from the shapes."""
    from harness.reference.model_checks import load_weights as read_state
    from harness.reference.vpr.netvlad import NetVladVgg16

    state = read_state(path)  # refused pickles and unreadable files: a ProvisioningError
    try:
        clusters, dim = state["pool.centroids"].shape
        out = state["pca.weight"].shape[0]
        model = NetVladVgg16(dim // 8, clusters, out)
        model.load_state_dict(state, strict=True)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise HarnessError(
            f"{path}: not a NetVLAD-VGG16 checkpoint in the upstream layout ({exc}); "
            "make one with `harness provision train`"
        ) from None
    return model.eval()


def run_train(args: argparse.Namespace) -> int:
    extra.require()
    from dataclasses import replace

    import torch

    from harness.reference.models.plots import plot_history
    from harness.reference.models.recipe import TrainConfig
    from harness.reference.models.trainjob import TrainJob, train_checkpoint

    torch.set_num_threads(max(1, args.threads))
    job = TrainJob(
        width=args.width,
        local_features=args.local_features,
        input_px=args.input_px,
        area_seeds=tuple(args.area_seeds),
        queries_per_area=args.queries,
        area_size_m=args.area_m,
        validation_seed=args.validation_seed,
        train=replace(TrainConfig(), epochs=args.epochs, patience=args.patience),
    )
    result = train_checkpoint(job, args.out, args.cache_dir)
    png = plot_history(
        result.history.loss,
        result.history.recall_at_1,
        args.out / "train_curves.png",
        f"NetVLAD pool training ({', '.join(result.provenance['data'])})",
    )
    print(f"checkpoint {result.checkpoint} sha256 {result.sha256}")
    print(f"provenance {result.checkpoint.with_suffix('.provenance.md')}; curves {png}")
    print(f"trained in {result.seconds:.0f} s")
    return 0


def run_test(args: argparse.Namespace) -> int:
    extra.require()
    import torch

    from harness.reference.models.evaluate import (
        corpus_images,
        descriptors,
        format_table,
        forward_ms,
        int8_dynamic,
        recall_table,
    )
    from harness.reference.models.features import random_model
    from harness.reference.models.prune import prune_to_width
    from harness.reference.models.trainset import clip_flight

    torch.set_num_threads(max(1, args.threads))
    if args.seed in args.train_seeds:
        raise HarnessError(
            f"--seed {args.seed} is a training area seed; pick a held-out seed for the test"
        )
    gap = _gap(args.gap)
    flights = {
        a: clip_flight(args.preset, args.seed, args.cache_dir, alignment=a, gap=gap)
        for a in ("none", "north-up")
    }
    tiles = corpus_images(flights["north-up"].corpus)
    models = [("scaffold (random init)", random_model(args.width, 64, 4096, args.scaffold_seed))]
    models += [(str(p), load_weights(p)) for p in args.weights]
    loaded = models[1:]
    if args.int8:
        models += [(f"{name} int8", int8_dynamic(model)) for name, model in loaded]
    for width in args.prune_width:
        models += [
            (f"{name} pruned to width {width}", prune_to_width(m, width)) for name, m in loaded
        ]
    rows = recall_table("chance (random ranking)", None, None, flights["north-up"], args.radius_m)
    for name, model in models:
        t_desc = descriptors(model, tiles, args.input_px, args.cache_dir)
        ms = forward_ms(model, args.input_px)
        for alignment, geo in flights.items():
            q_desc = descriptors(model, geo.queries, args.input_px, args.cache_dir)
            rows += recall_table(
                f"{name}, queries {alignment}", q_desc, t_desc, geo, args.radius_m, ms
            )
    shown = "" if gap is None else f" with the gap {gap or '(default)'}"
    print(f"held-out flight: {args.preset} seed {args.seed}{shown}; {len(tiles)} tiles")
    table = format_table(rows)
    print(table)
    if args.table:
        args.table.write_text(table + "\n")
    return 0


def _gap(text: str | None) -> dict | None:
    """`--gap`: none, `default`, or a YAML mapping of the synth spec's gap fields, checked."""
    if text is None:
        return None
    import yaml
    from pydantic import ValidationError

    from harness.synth.spec import Gap

    try:
        doc = {} if text == "default" else yaml.safe_load(text)
        Gap.model_validate(doc)
    except (yaml.YAMLError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"msg": str(exc)}
        where = ".".join(str(x) for x in first.get("loc", ())) or "the mapping"
        raise HarnessError(
            f"--gap {text!r}: {where}: {first['msg']}; give `default` or a mapping such as "
            "'{jpeg_quality: 30, tilt_deg: 5}' (fields: docs/clip.md, \"The gap\")"
        ) from None
    return doc


def run_finetune(args: argparse.Namespace) -> int:
    extra.require()
    from dataclasses import replace

    import torch

    from harness.reference.models.finetune import finetune_checkpoint
    from harness.reference.models.realrecipe import RealTuneJob

    torch.set_num_threads(max(1, args.threads))
    job = RealTuneJob()
    job = replace(job, train=replace(job.train, epochs=args.epochs))
    result = finetune_checkpoint(job, args.base, args.out, Path.cwd(), args.cache_dir)
    print(f"checkpoint {result.checkpoint} sha256 {result.sha256}")
    print(f"provenance {result.checkpoint.with_suffix('.provenance.md')}")
    print(f"fine-tuned in {result.seconds:.0f} s")
    return 0


def run_test_real(args: argparse.Namespace) -> int:
    extra.require()
    import torch

    from harness.reference.models.evaluate import (
        corpus_images,
        descriptors,
        format_table,
        recall_table,
    )
    from harness.reference.models.realrecipe import RealSplit
    from harness.reference.models.realset import heldout_queries

    torch.set_num_threads(max(1, args.threads))
    geo = heldout_queries(RealSplit(), Path.cwd(), args.cache_dir)
    tiles = corpus_images(geo.corpus)
    rows = recall_table("chance (random ranking)", None, None, geo, args.radius_m)
    for path in args.weights:
        model = load_weights(path)
        t_desc = descriptors(model, tiles, args.input_px, args.cache_dir)
        q_desc = descriptors(model, geo.queries, args.input_px, args.cache_dir)
        rows += recall_table(str(path), q_desc, t_desc, geo, args.radius_m)
    print(f"held-out real frames: {geo.name}; {len(geo.queries)} queries, {len(tiles)} tiles")
    print(format_table(rows))
    return 0


def register(groups) -> None:
    provision = groups.group("provision", "checkpoints, engines and retrieval weights")
    p = provision.add_parser(
        "train",
        help="train NetVLAD's pool and PCA-whitening on the stand-in (k-means init, triplets)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="checkpoint folder")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="conv feature cache")
    p.add_argument("--epochs", type=int, default=12, help="at most this many triplet epochs")
    p.add_argument(
        "--patience",
        type=int,
        default=2,
        help="stop after this many epochs without a better validation score (0: never)",
    )
    p.add_argument("--area-seeds", type=int, nargs="+", default=[101, 102])
    p.add_argument("--queries", type=int, default=200, help="rendered queries per area")
    p.add_argument(
        "--validation-seed",
        type=int,
        default=103,
        help="held-out training-side area that picks the epoch to keep (never a test seed)",
    )
    p.add_argument("--area-m", type=float, default=1600.0, help="side of each training area")
    p.add_argument("--input-px", type=int, default=160)
    p.add_argument(
        "--local-features",
        choices=["conv4", "conv5"],
        default="conv4",
        help="encoder maps NetVLAD pools: conv4 (conv5 set to identity) or the random conv5",
    )
    p.add_argument("--width", type=int, default=64, help="VGG width (64 = the full model)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=run_train)

    t = provision.add_parser(
        "test", help="recall@1/5/10/20 on a held-out stand-in flight, scaffold vs trained"
    )
    t.add_argument("--weights", type=Path, nargs="*", default=[], help="checkpoints to test")
    t.add_argument("--preset", default="derkachi-60s")
    t.add_argument("--seed", type=int, default=7, help="held-out flight seed")
    t.add_argument(
        "--train-seeds",
        type=int,
        nargs="*",
        default=[101, 102, 103],
        help="seeds used in training or validation: refused as test flights",
    )
    t.add_argument(
        "--gap",
        help="put the gap between map and flight: `default`, or a YAML mapping of its fields",
    )
    t.add_argument("--radius-m", type=float, default=75.0)
    t.add_argument("--input-px", type=int, default=160)
    t.add_argument("--width", type=int, default=64, help="the scaffold's VGG width")
    t.add_argument("--scaffold-seed", type=int, default=1)
    t.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    t.add_argument("--table", type=Path, help="also write the Markdown table here")
    t.add_argument("--int8", action="store_true", help="add dynamic-int8 rows for each checkpoint")
    t.add_argument(
        "--prune-width",
        type=int,
        nargs="*",
        default=[],
        help="add rows for each checkpoint cut to these VGG widths (64 = full; 32 = 1/4 compute)",
    )
    t.add_argument("--threads", type=int, default=2)
    t.set_defaults(func=run_test)

    f = provision.add_parser(
        "finetune",
        help="fine-tune a stand-in checkpoint's pool and whitening on real survey frames "
        "(the ZR10 fixture's training lines; its held-out lines never train)",
    )
    f.add_argument(
        "--base",
        type=Path,
        default=Path("models/scenarios/trained/netvlad_trained.pt"),
        help="the checkpoint to start from (the default recipe's)",
    )
    f.add_argument("--out", type=Path, default=Path("models/netvlad-real"))
    f.add_argument("--epochs", type=int, default=4, help="triplet epochs on the real crops")
    f.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    f.add_argument("--threads", type=int, default=2)
    f.set_defaults(func=run_finetune)

    r = provision.add_parser(
        "test-real", help="recall@1/5/10/20 on the ZR10 fixture's held-out lines (real frames)"
    )
    r.add_argument("--weights", type=Path, nargs="+", help="checkpoints to test")
    r.add_argument("--radius-m", type=float, default=15.0)
    r.add_argument("--input-px", type=int, default=160)
    r.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    r.add_argument("--threads", type=int, default=2)
    r.set_defaults(func=run_test_real)
