"""A short synth bundle shared by the clip and synth tests (made once per session)."""

from __future__ import annotations

import pytest

from harness.synth.make import make_synth
from harness.synth.spec import SynthSpec


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("clipcache")


@pytest.fixture(scope="session")
def short_bundle(cache_dir):
    return make_synth(SynthSpec(preset="derkachi-10s", seed=3), cache_dir)
