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
