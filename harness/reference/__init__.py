"""Our stack under test: provisioning, runtimes, VPR and ESKF, plugged in like any team's.

It is registered as the `reference` entry point of `harness.pipelines`; the framework never
imports it. Model tooling (scaffold, import, train, prune, evaluate) lives in `models/`,
apart from the inference path.
"""
