"""The reference system under test: our NetVLAD provisioning, VPR strategies and ESKF."""

from __future__ import annotations

from harness.reference.provisioning import Check, input_normalisation, verify
from harness.run.stage import Engine, Fix, RunContext, StageStop


class ReferencePipeline:
    """Registered as the `reference` entry point of `harness.pipelines`."""

    def provision(self, ctx: RunContext) -> list[Engine]:
        engines = []
        for backbone in ctx.config.c10_provisioning.backbones:
            path = ctx.loaded.resolve(backbone.weights_path)
            sha = ""
            for step in verify(backbone, path):
                if not isinstance(step, Check):
                    norm = input_normalisation(path)
                    engines.append(Engine(backbone, path, sha, model=step, normalisation=norm))
                    if norm is not None:
                        ctx.emit("provisioning", "normalisation", backbone=backbone.name, **norm)
                    break
                ctx.emit(
                    "provisioning",
                    "check",
                    backbone=backbone.name,
                    check=step.check,
                    ok=step.ok,
                    detail=step.detail,
                )
                if not step.ok:
                    raise StageStop(step.detail)
                if step.check == "sha256":
                    sha = step.detail.split()[0]
        return engines

    def fixes(self, ctx: RunContext, engines: list[Engine]) -> list[Fix]:
        if ctx.scenario.vpr.strategy == "oracle":
            from harness.reference.vpr.oracle import oracle_fixes

            return oracle_fixes(ctx)
        from harness.reference.vpr.stage import netvlad_fixes

        return netvlad_fixes(ctx, engines)

    def navigate(self, ctx: RunContext, fixes: list[Fix]) -> None:
        from harness.reference.eskf.stage import navigate

        navigate(ctx, fixes)
