"""`harness provision scaffold|import|pin|verify`: make the scaffold checkpoint, translate a
pytorch-NetVlad one or the MATLAB release, pin checkpoints in the operator config, check
provisioned ones."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.reference import extra


def register(groups) -> None:
    sub = groups.group("provision", "make, check and train NetVLAD checkpoints")
    p = sub.add_parser("scaffold", help="write the deterministic scaffold checkpoint")
    p.add_argument("--out", type=Path, default=Path("models/netvlad/netvlad.pt"))
    p.add_argument("--vgg16-weights", type=Path, help="a torchvision VGG16 file for the encoder")
    _architecture(p)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_scaffold)
    p = sub.add_parser(
        "import", help="translate a pytorch-NetVlad checkpoint into the upstream layout"
    )
    p.add_argument(
        "source",
        type=Path,
        help="pytorch-NetVlad checkpoint (.pth.tar) or the MATLAB release (.mat)",
    )
    p.add_argument("--out", type=Path, default=Path("models/netvlad/netvlad.pt"))
    p.add_argument(
        "--vgg16", type=Path, help="a torchvision VGG16 file for a source without an encoder"
    )
    p.add_argument(
        "--random-pca",
        action="store_true",
        help="a source without PCA gets a seeded random projection, labelled NOT trained",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --random-pca")
    _architecture(p)
    p.set_defaults(func=run_import)
    p = sub.add_parser("pin", help="write each checkpoint's sha256 into the operator config")
    p.add_argument("--config", type=Path, default=Path("configs/operator_replay.yaml"))
    p.add_argument(
        "--backbone", action="append", help="pin only this backbone (repeatable; default: all)"
    )
    p.set_defaults(func=run_pin)
    p = sub.add_parser("verify", help="verify every backbone of an operator config")
    p.add_argument("--config", type=Path, default=Path("configs/operator_replay.yaml"))
    p.add_argument("--input-px", type=int, default=240)
    p.set_defaults(func=run_verify)


def _architecture(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=int, default=64, help="VGG width (64 = full size)")
    p.add_argument("--clusters", type=int, default=64)
    p.add_argument("--descriptor-dim", type=int, default=4096)


def run_scaffold(args: argparse.Namespace) -> int:
    extra.require()
    from harness.reference.models.scaffold import make_scaffold

    sha = make_scaffold(
        args.out,
        width=args.width,
        clusters=args.clusters,
        descriptor_dim=args.descriptor_dim,
        seed=args.seed,
        vgg16_weights=args.vgg16_weights,
    )
    print(f"{args.out}: sha256 {sha}\nprovenance: {args.out.with_suffix('.provenance.md')}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    extra.require()
    from harness.reference.models.importer import import_checkpoint

    result = import_checkpoint(
        args.source,
        args.out,
        width=args.width,
        clusters=args.clusters,
        descriptor_dim=args.descriptor_dim,
        vgg16=args.vgg16,
        random_pca=args.random_pca,
        seed=args.seed,
    )
    src, done = result.source, result.translation
    stripped = sum(k != o for k, o in src.original_keys.items())
    print(f"{result.out}: sha256 {result.sha256}")
    print(
        f"source: {src.path} sha256 {src.sha256}"
        + (f"; DataParallel `module.` removed from {stripped} keys" if stripped else "")
    )
    print(f"assignment bias: {done.bias}")
    print(f"PCA: {done.pca}")
    print(f"encoder: {done.encoder}")
    print(f"provenance: {result.out.with_suffix('.provenance.md')}")
    print(f"pin it in the operator config: c10_provisioning.backbones[].sha256: {result.sha256}")
    return 0


def run_pin(args: argparse.Namespace) -> int:
    from harness.reference.models.pin import pin

    for done in pin(args.config, args.backbone):
        was = "" if done.previous in (None, done.sha256) else f" (was {done.previous})"
        print(f"{args.config}: {done.name}: {done.weights} sha256 {done.sha256}{was}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    extra.require()
    import numpy as np
    import torch
    from pydantic import ValidationError

    from harness.errors import ProvisioningError
    from harness.reference.model_checks import Check, verify
    from harness.reference.operator_config import OperatorConfig
    from harness.scenario.load import project_root, read_yaml

    root = project_root(args.config.parent)
    try:
        config = OperatorConfig.model_validate(read_yaml(args.config))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ProvisioningError(
            f"{args.config}: {where}: {first['msg']}; fix the operator config "
            "(`harness scenario lint` shows every problem with its line)"
        ) from None
    failed = 0
    for backbone in config.c10_provisioning.backbones:
        path = backbone.weights_path
        path = path if path.is_absolute() else root / path
        model = None
        for step in verify(backbone, path):
            if not isinstance(step, Check):
                model = step
                break
            print(
                f"{backbone.name}: {step.check:<12} {'ok' if step.ok else 'FAILED'}  {step.detail}"
            )
            failed += not step.ok
        if model is not None:
            with torch.no_grad():
                out = model(torch.rand(1, 3, args.input_px, args.input_px))["vlad_descriptor"]
            d = out.numpy()
            ok = d.shape == (1, backbone.descriptor_dim) and bool(np.all(np.isfinite(d)))
            ok = ok and abs(float(np.linalg.norm(d)) - 1.0) < 1e-3
            print(
                f"{backbone.name}: {'forward':<12} {'ok' if ok else 'FAILED'}  "
                f"{d.shape} {d.dtype} norm {np.linalg.norm(d):.4f}"
            )
            failed += not ok
    return 1 if failed else 0
