"""Helpers for the framework's tests: scenario text builders."""

from __future__ import annotations

import textwrap


def scenario_text(name: str, expect: str, **extra: str) -> str:
    """A minimal valid scenario; `extra` adds top-level YAML blocks verbatim."""
    body = f"""\
        format_version: 1
        name: {name}
        config: configs/operator_replay.yaml
        clip:
          synth: {{preset: derkachi-60s, seed: 7}}
        expect: {expect}
        """
    text = textwrap.dedent(body)
    for key, value in extra.items():
        text += f"{key}: {value}\n"
    return text


# A small NetVLAD in the full layout's family, at models/tiny.pt under the project root.
TINY = {"width": 8, "clusters": 8, "descriptor_dim": 64}
TINY_OVERRIDES = """\
overrides:
  c10_provisioning.backbones.0.weights_path: models/tiny.pt
  c10_provisioning.backbones.0.runtime: pytorch-fp32
  c10_provisioning.backbones.0.width: 8
  c10_provisioning.backbones.0.clusters: 8
  c10_provisioning.backbones.0.descriptor_dim: 64
"""
