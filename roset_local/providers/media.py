"""Audio and video through PyAV (FFmpeg): decoded to 16 kHz mono, a video frame for the thumbnail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import ExtractionError
from .guards import Limits, check_pixels
from .thumbs import thumbnail_from_pil

SAMPLE_RATE = 16000


@dataclass
class DecodedMedia:
    audio: Any  # float32 numpy array, mono, SAMPLE_RATE; None when the file has no audio track
    duration: float
    has_video: bool
    width: int | None = None
    height: int | None = None
    thumbnail: tuple[bytes, str] | None = None
    warnings: list[str] = field(default_factory=list)
    container: str | None = None


def _open(path: str) -> Any:
    import av

    try:
        return av.open(path, mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise ExtractionError("corrupt_file", f"media cannot be opened: {exc}") from exc


def decode_media(path: str, limits: Limits) -> DecodedMedia:
    """Reads the first audio track (and one video frame) of an audio or video file.

    A file cut short keeps what decoded, with a warning; one with no decodable audio at all fails
    as `corrupt_file` unless it is a video (a silent video has an empty transcript).
    """
    import av
    import numpy as np

    container = _open(path)
    try:
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        if duration > limits.max_media_seconds:
            raise ExtractionError(
                "too_large", f"media lasts {duration:.0f} s; the limit is {limits.max_media_seconds:.0f} s"
            )
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        result = DecodedMedia(
            audio=None, duration=duration, has_video=video is not None, container=container.format.name
        )
        if video is not None:
            result.width, result.height = video.codec_context.width or None, video.codec_context.height or None
            result.thumbnail = _video_thumbnail(container, video, duration, limits, result.warnings)
        if audio is None:
            if video is None:
                raise ExtractionError("corrupt_file", "file has neither an audio nor a video track")
            return result
        container.seek(0)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks: list[Any] = []
        try:
            for frame in container.decode(audio):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            if not chunks:
                raise ExtractionError("corrupt_file", f"audio track cannot be decoded: {exc}") from exc
            result.warnings.append(f"audio decoding stopped early: {exc}")
        if not chunks:
            raise ExtractionError("corrupt_file", "audio track holds no decodable samples")
        samples = np.concatenate(chunks).astype(np.float32) / 32768.0
        result.audio = samples
        decoded_s = len(samples) / SAMPLE_RATE
        if duration and decoded_s < 0.9 * duration - 1.0:
            result.warnings.append(f"only {decoded_s:.1f} s of {duration:.1f} s decoded: file looks truncated")
        result.duration = decoded_s if not duration else min(duration, max(decoded_s, duration))
        return result
    finally:
        container.close()


def _video_thumbnail(
    container: Any, stream: Any, duration: float, limits: Limits, warns: list[str]
) -> tuple[bytes, str] | None:
    import av

    width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
    if width and height:
        check_pixels(width, height, limits, "video frame")
    try:
        if duration > 2:
            # A frame one second in avoids the black first frame many videos start with.
            container.seek(int(1.0 * av.time_base))
        for frame in container.decode(stream):
            return thumbnail_from_pil(frame.to_image())
    except av.FFmpegError as exc:
        warns.append(f"no video frame for the thumbnail: {exc}")
    return None
