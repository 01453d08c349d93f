"""Tile corpora: geo-referenced map tiles with footprints in the local frame, on disk and in memory.

On disk a corpus is a folder with `corpus.json` (kind, ids, centres, footprints, size, hash) and
`tiles.npy` (T, S, S, 3) uint8, memory-mapped on load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from harness.errors import ClipError

CORPUS_FORMAT_VERSION = 1
KINDS = ("local-grid", "xyz", "geotiff")


class TileCorpus:
    """Tiles with `ids`, `centres_ne_m` (T,2), `footprints_ne_m` (T,4,2: NW, NE, SE, SW corners)."""

    def __init__(
        self,
        kind: str,
        ids: list[str],
        footprints_ne_m: np.ndarray,
        size_m: float,
        tiles: np.ndarray,
        meta: dict,
        content_hash: str,
    ) -> None:
        self.kind, self.ids, self.size_m = kind, ids, size_m
        self.footprints_ne_m = footprints_ne_m
        self.centres_ne_m = footprints_ne_m.mean(axis=1)
        self.meta, self.content_hash = meta, content_hash
        self._tiles = tiles

    def __len__(self) -> int:
        return len(self.ids)

    def image(self, i: int) -> np.ndarray:
        """Tile i as H x W x 3 uint8 RGB, north up."""
        return np.asarray(self._tiles[i])


def corpus_hash(doc: dict, tiles: np.ndarray) -> str:
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    h.update(hashlib.sha256(np.ascontiguousarray(tiles).data).digest())
    return h.hexdigest()


def make_corpus(
    kind: str,
    ids: list[str],
    footprints_ne_m: np.ndarray,
    size_m: float,
    tiles: np.ndarray,
    meta: dict,
) -> TileCorpus:
    doc = _doc(kind, ids, footprints_ne_m, size_m, meta)
    return TileCorpus(kind, ids, footprints_ne_m, size_m, tiles, meta, corpus_hash(doc, tiles))


def _doc(kind: str, ids: list[str], footprints: np.ndarray, size_m: float, meta: dict) -> dict:
    return {
        "format": "harness-tile-corpus",
        "format_version": CORPUS_FORMAT_VERSION,
        "kind": kind,
        "size_m": size_m,
        "ids": ids,
        "footprints_ne_m": np.round(footprints, 4).tolist(),
        "meta": meta,
    }


def write_corpus(folder: Path, corpus: TileCorpus) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "tiles.npy", np.asarray(corpus._tiles))
    doc = _doc(corpus.kind, corpus.ids, corpus.footprints_ne_m, corpus.size_m, corpus.meta)
    doc["content_hash"] = corpus.content_hash
    (folder / "corpus.json").write_text(json.dumps(doc, indent=1))


def read_corpus(folder: Path, verify: bool = False) -> TileCorpus:
    """Load a corpus folder; `verify` re-hashes the tiles (the hash is otherwise trusted)."""
    path = folder / "corpus.json"
    try:
        doc = json.loads(path.read_text())
        kind, ids = doc["kind"], doc["ids"]
        footprints = np.asarray(doc["footprints_ne_m"], dtype=np.float64).reshape(len(ids), 4, 2)
        tiles = np.load(folder / "tiles.npy", mmap_mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise ClipError(f"{path}: unreadable tile corpus ({exc!r}); re-make the clip") from None
    if doc.get("format_version") != CORPUS_FORMAT_VERSION or kind not in KINDS:
        raise ClipError(
            f"{path}: format_version {doc.get('format_version')!r} / kind {kind!r} not supported "
            f"(want {CORPUS_FORMAT_VERSION} and one of {KINDS}); re-make "
            "the corpus with this harness"
        )
    if tiles.shape[0] != len(ids):
        raise ClipError(
            f"{folder / 'tiles.npy'}: {tiles.shape[0]} tiles but corpus.json lists {len(ids)} ids; "
            "the corpus is truncated: re-make it"
        )
    if verify:
        body = {k: v for k, v in doc.items() if k != "content_hash"}
        if corpus_hash(body, tiles) != doc["content_hash"]:
            raise ClipError(f"{folder}: tiles do not match corpus.json's content_hash; re-make it")
    return TileCorpus(
        kind, ids, footprints, float(doc["size_m"]), tiles, doc["meta"], doc["content_hash"]
    )
