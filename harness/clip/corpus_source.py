"""The tile corpus a scenario chose (`corpus:`): the bundle's own, a GeoTIFF or an XYZ folder."""

from __future__ import annotations

from pathlib import Path

from harness.clip.corpus import TileCorpus
from harness.clip.model import Clip
from harness.clip.spec import CorpusSpec
from harness.errors import ClipError


def scenario_corpus(spec: CorpusSpec | None, clip: Clip, resolve, cache_dir: Path) -> TileCorpus:
    """The corpus for a run; `resolve` turns a scenario-relative path into an absolute one.
    Without a `corpus:` block the bundle's local-grid corpus is used, as before."""
    if spec is None or spec.kind == "bundle":
        return clip.corpus(spec.name if spec else "local-grid")
    path = Path(resolve(spec.path))
    if not path.exists():
        raise ClipError(f"corpus.path {path} does not exist; fix the scenario's `corpus: path:`")
    if spec.kind == "geotiff":
        from harness.clip.geotiff import cached_geotiff

        return cached_geotiff(path, clip.origin.as_tuple(), spec.zoom, spec.tile_px, cache_dir)
    from harness.clip.xyz import read_xyz_folder

    corpus = read_xyz_folder(path, clip.origin.as_tuple(), spec.zoom)
    if corpus.meta["tile_px"] != spec.tile_px:
        raise ClipError(
            f"{path}: tiles are {corpus.meta['tile_px']} px but corpus.tile_px is {spec.tile_px}; "
            "set tile_px to the folder's tile size"
        )
    return corpus
