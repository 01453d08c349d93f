"""A stack written from docs/adapters.md alone, as a newcomer would: numpy only, no code of the
harness. Place recognition by the colour histogram of a 60 m disc around the nadir point
(rotation-invariant; the frame's scale from the planned height, `--agl-m`), a fix at the best
tile's centre, and a state that holds the last fix. Kept as a fixture: the contract, followed
to the letter, is enough to be judged on the product's merits."""

import base64
import json
import os
import sys

import numpy as np

args = dict(zip(sys.argv[1::2], sys.argv[2::2], strict=True))
AGL_M, RATE_HZ = float(args.get("--agl-m", 300)), float(args.get("--rate-hz", 1))
RADIUS_M, BINS = 60.0, 4
root = os.environ["HARNESS_STACK_INPUT"]
with open(os.path.join(root, "input.json")) as f:
    doc = json.load(f)
corpus_dir = os.path.join(root, doc["corpus"]["path"])
with open(os.path.join(corpus_dir, "corpus.json")) as f:
    corpus = json.load(f)
tiles = np.load(os.path.join(corpus_dir, "tiles.npy"), mmap_mode="r")
centres = np.array(corpus["footprints_ne_m"]).mean(axis=1)
sigma = corpus["size_m"] / 12**0.5  # a tile-centre fix is uniform over the tile


def histogram(image: np.ndarray, radius_px: float) -> np.ndarray:
    h, w = image.shape[:2]
    y, x = np.ogrid[:h, :w]
    disc = (y - h / 2) ** 2 + (x - w / 2) ** 2 <= radius_px**2
    bins = (image[disc] // (256 // BINS)).astype(int)
    index = bins[:, 0] * BINS * BINS + bins[:, 1] * BINS + bins[:, 2]
    return np.bincount(index, minlength=BINS**3) / disc.sum()


tile_px_m = tiles.shape[1] / corpus["size_m"]
tile_desc = np.array([histogram(t, RADIUS_M * tile_px_m) for t in tiles])
mean = tile_desc.mean(axis=0)  # centred, so unrelated places are not alike


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


tile_desc = unit(tile_desc - mean)
frame_px_m = doc["camera"]["fx"] / AGL_M


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


emit({"type": "ready", "name": "newcomer", "version": "0.1"})
# The query frames: the first frame at or after each 1/rate tick from the first frame
# (docs/adapters.md, rate_hz). IMU and telemetry lines: this stack uses neither.
next_tick = None
position = None
for line in sys.stdin:
    tick = json.loads(line)
    if tick["type"] != "frame":
        continue
    i, t = tick["frame"], tick["t_s"]
    next_tick = t if next_tick is None else next_tick
    if t + 1e-9 >= next_tick:
        while next_tick <= t + 1e-9:
            next_tick += 1 / RATE_HZ
        frame = np.load(os.path.join(root, tick["file"]))  # written at its release
        d = unit(histogram(frame, RADIUS_M * frame_px_m) - mean)
        scores = tile_desc @ d
        best = np.argsort(-scores)[:5]
        data = base64.b64encode(d.astype("<f4").tobytes()).decode()
        emit({
            "type": "query", "frame": i, "t_s": t,
            "topk": [{"tile": corpus["ids"][j], "score": float(scores[j])} for j in best],
            "descriptor": {"dtype": "float32", "shape": [len(d)], "data": data},
        })  # fmt: skip
        position = centres[best[0]]
        emit({
            "type": "fix", "frame": i, "t_s": t, "z_ne_m": position.tolist(),
            "sigma_m": sigma, "source": corpus["ids"][best[0]],
        })  # fmt: skip
    if position is not None:
        emit({
            "type": "state", "frame": i, "t_s": t,
            "p_ned_m": [*position.tolist(), -AGL_M],
            "P_hh": [[sigma**2, 0.0], [0.0, sigma**2]],
        })  # fmt: skip
