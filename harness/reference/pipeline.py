"""The reference system under test: our NetVLAD provisioning, VPR strategies and ESKF."""

from __future__ import annotations

from harness.reference import extra
from harness.reference.checkpoint_file import Check, file_checks, record_check
from harness.reference.provisioned import Engine
from harness.reference.settings import ReferenceScenario
from harness.run.stage import Fix, RunContext, StageStop

# On a framework-only install the entry point fails here, naming the install line.
extra.require()


class ReferencePipeline:
    """Registered as the `reference` entry point of `harness.pipelines`.

    With `vpr.align_source: filter` each query is aligned with the filter's estimate at its
    frame time, so retrieval cannot run ahead of the filter: `fixes` then only prepares the
    queries (corpus descriptors included) and `navigate` runs retrieval and filter interleaved
    in time.
    """

    scenario_model = ReferenceScenario

    def __init__(self) -> None:
        self._deferred = None  # the queries `navigate` runs, with align_source: filter

    def query_rate_hz(self, scenario: ReferenceScenario) -> float | None:
        """NetVLAD answers a query at `vpr.rate_hz`; the oracle makes fixes, no queries."""
        return scenario.vpr.rate_hz if scenario.vpr.strategy == "netvlad" else None

    def provision(self, ctx: RunContext) -> list[Engine]:
        """Every backbone's checks, recorded: the file checks (exists, sha256), then, unless
        the strategy runs no model (the oracle), the model's. torch is imported only for
        those: a run that stops at a file check or runs the oracle never loads it. An empty
        backbones list stops here: the empty-backbones SKIP gate, nothing to run."""
        settings = ctx.settings
        backbones = settings.config.c10_provisioning.backbones
        chosen = settings.config.backbone()  # c2_vpr's: its size is the descriptor contract
        ctx.emit(
            "provisioning",
            "backbones",
            count=len(backbones),
            names=[b.name for b in backbones],
            what="c10_provisioning.backbones",
            source=str(settings.config_path),
            # the size the vpr-contract gate holds descriptors to (c2_vpr's backbone)
            descriptor_dim=chosen.descriptor_dim
            if (chosen := settings.config.backbone())
            else None,
        )
        if not backbones:
            raise StageStop(f"c10_provisioning.backbones is empty in {settings.config_path}")
        engines = []
        for backbone in backbones:
            path = ctx.loaded.resolve(backbone.weights_path)
            checks = list(file_checks(backbone, path))  # stops at the first failure
            sha = next((c.detail.split()[0] for c in checks if c.check == "sha256" and c.ok), "")
            ctx.artifact(
                "checkpoint",
                backbone.name,
                path,
                sha or None,
                pinned=backbone.sha256 is not None,
                pin_hint="run `harness provision pin` (it writes the sha256 into the config)",
            )
            for check in checks:
                record_check(ctx, backbone.name, check)
            if ctx.scenario.vpr.strategy == "oracle":
                engines.append(Engine(backbone, path, sha))
                ctx.emit(
                    "provisioning",
                    "not-loaded",
                    backbone=backbone.name,
                    reason="the oracle strategy runs no model",
                )
                continue
            from harness.reference.model_checks import input_normalisation, model_checks

            for step in model_checks(backbone, path):
                if isinstance(step, Check):
                    record_check(ctx, backbone.name, step)
                    continue
                norm = input_normalisation(path)
                engines.append(Engine(backbone, path, sha, model=step, normalisation=norm))
                if norm is not None:
                    ctx.emit("provisioning", "normalisation", backbone=backbone.name, **norm)
        return engines

    def fixes(self, ctx: RunContext, engines: list[Engine]) -> list[Fix]:
        if ctx.scenario.vpr.strategy == "oracle":
            from harness.reference.vpr.oracle import oracle_fixes

            return oracle_fixes(ctx)
        from harness.reference.vpr.queries import NetVladQueries, netvlad_fixes

        vpr = ctx.scenario.vpr
        if vpr.align == "north-up" and vpr.align_source == "filter":
            self._deferred = NetVladQueries(ctx, engines)
            return []
        return netvlad_fixes(ctx, engines)

    def navigate(self, ctx: RunContext, fixes: list[Fix]) -> None:
        from harness.reference.eskf.navigate import navigate

        if self._deferred is None:
            navigate(ctx, fixes)
            return
        queries, self._deferred = self._deferred, None
        try:
            navigate(ctx, queries)
        finally:
            queries.close()
