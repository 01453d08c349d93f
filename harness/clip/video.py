"""H.264 mp4 writing and random-access frame decoding with PyAV."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from harness.errors import ClipError

GOP = 10  # a keyframe every 10 frames: a random read decodes at most 10 frames


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, crf: int = 18) -> int:
    """Encode RGB frames; frame i gets pts i. Returns the number of frames written."""
    count = 0
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = None
        for rgb in frames:
            if stream is None:
                stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.codec_context.gop_size = GOP
                stream.options = {"crf": str(crf), "preset": "veryfast", "bf": "0", "threads": "2"}
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = count
            for packet in stream.encode(frame):
                out.mux(packet)
            count += 1
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
    return count


# Codecs that hold still images: FFmpeg opens a TIFF or PNG as a one-frame "video".
STILL_CODECS = {"tiff", "png", "bmp", "gif", "webp", "jpeg2000", "mjpeg", "ppm", "pgm", "dpx"}


def probe(path: Path) -> tuple[int, int, np.ndarray]:
    """Width, height and each frame's presentation time [s] from the first, without decoding.

    Refuses a file that is not a moving-picture video: no video stream (audio, text, an SRT),
    a still image PyAV would open as a one-frame stream (TIFF, PNG, JPEG), or no frames."""
    if Path(path).is_dir():
        raise ClipError(f"{path}: is a directory; give the video file (.mp4/.mov)")
    try:
        with av.open(str(path)) as container:
            fmt = container.format.name
            if not container.streams.video:
                kinds = sorted({s.type for s in container.streams}) or ["none"]
                raise ClipError(
                    f"{path}: PyAV finds no video stream (format {fmt!r}, streams: "
                    f"{', '.join(kinds)}); give the video file (.mp4/.mov) the telemetry belongs to"
                )
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if fmt.endswith("_pipe") or fmt == "image2" or codec in STILL_CODECS:
                raise ClipError(
                    f"{path}: is a still image ({codec}, format {fmt!r}), not a video; "
                    "give the video file (.mp4/.mov) the telemetry belongs to"
                )
            pts = [p.pts for p in container.demux(stream) if p.size and p.pts is not None]
            width, height, tb = (
                stream.codec_context.width,
                stream.codec_context.height,
                stream.time_base,
            )
    except (av.error.FFmpegError, OSError) as exc:
        raise ClipError(
            f"{path}: cannot read the video ({exc}); give an mp4 with a video stream"
        ) from None
    if len(pts) < 2:
        raise ClipError(
            f"{path}: the video stream holds {len(pts)} frame(s); a clip needs a moving picture: "
            "give the full recording"
        )
    t = np.sort(np.asarray(pts, dtype=np.float64)) * float(tb)
    return width, height, t - t[0]


class VideoFrames:
    """Decodes frame i of an mp4: sequential reads stream, jumps seek to the keyframe before."""

    def __init__(self, path: Path, count: int, cache_frames: int = 32) -> None:
        self.path, self.count = path, count
        self._container = None
        self._iter = None
        self._next = 0
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_frames = cache_frames

    def _open(self) -> None:
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as exc:
            raise ClipError(
                f"{self.path}: cannot open the video ({exc}); re-make or re-export the bundle"
            ) from None
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        self._fps = float(stream.average_rate or stream.guessed_rate)

    def _index(self, frame: av.VideoFrame) -> int:
        return round(float(frame.pts * self._stream.time_base) * self._fps)

    def _seek(self, i: int) -> None:
        key = (i // GOP) * GOP
        self._container.seek(
            int(key / self._fps / self._stream.time_base), stream=self._stream, backward=True
        )
        self._iter = self._container.decode(self._stream)
        self._next = -1

    def read(self, i: int) -> np.ndarray:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        if self._container is None:
            self._open()
            self._iter = self._container.decode(self._stream)
        if i < self._next or i > self._next + GOP or self._next < 0:
            self._seek(i)
        try:
            for frame in self._iter:
                idx = self._index(frame)
                self._next = idx + 1
                if idx >= i:
                    rgb = frame.to_ndarray(format="rgb24")
                    self._remember(idx, rgb)
                    if idx == i:
                        return rgb
                    break
        except av.error.FFmpegError as exc:
            raise ClipError(
                f"{self.path}: frame {i} cannot be decoded ({exc}); frames before it are readable"
            ) from None
        raise ClipError(
            f"{self.path}: frame {i} is missing from the video "
            f"(the manifest says {self.count} frames); "
            "the video is truncated: re-make the bundle or cut the clip before this frame"
        )

    def _remember(self, i: int, rgb: np.ndarray) -> None:
        self._cache[i] = rgb
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)

    def frame_count(self) -> int:
        """Frames the file really holds (decodes the container's packet index only)."""
        with av.open(str(self.path)) as container:
            return sum(1 for p in container.demux(video=0) if p.size)
