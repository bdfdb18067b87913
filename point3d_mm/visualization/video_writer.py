"""Writing annotated frames as an mp4, atomically: the one video encoder of point3d_mm.

The file is written under a temporary name beside its final one (``utils.fileio``'s
:func:`~point3d_mm.utils.fileio.atomic_path`) and renamed into place when closed without
an error, so a crash or Ctrl-C never leaves a half-written video under the final name.
"""
import contextlib
import errno
import os
import signal
import subprocess
import sys
from typing import Iterator, Optional, Tuple

import cv2
import numpy as np

from ..utils.fileio import atomic_path

# Browser-playable H.264 first: through the ffmpeg binary of imageio-ffmpeg (pinned: the
# OpenCV pip wheels have no H.264 encoder), else OpenCV's own if its build has one, else
# MPEG-4 part 2 (plays in VLC, not in browsers).
FOURCCS = ('avc1', 'H264', 'mp4v')


def _ffmpeg_exe() -> Optional[str]:
    """imageio-ffmpeg's ffmpeg binary (with libx264), or None where it is not installed."""
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


class _FfmpegH264Writer:
    """``cv2.VideoWriter``'s ``write``/``release`` over a pipe to ffmpeg with libx264:
    yuv420p (what browsers decode), the index at the front (``+faststart``, playable while
    it downloads), frames padded to even sizes (yuv420p halves both)."""

    def __init__(self, exe: str, path: str, fps: float, size: Tuple[int, int]) -> None:
        self.path = path
        width, height = size
        self._process = subprocess.Popen(
            [exe, '-nostdin', '-y', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'bgr24',
             '-s', f'{width}x{height}', '-r', f'{fps:g}', '-i', 'pipe:0', '-an',
             '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', 'libx264', '-preset', 'veryfast',
             '-crf', '23', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-f', 'mp4', path],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            self.release()  # raises with ffmpeg's message

    def release(self) -> None:
        if self._process.stdin and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except BrokenPipeError:
                pass
        error = self._process.stderr.read().decode(errors='replace').strip()
        code = self._process.wait()
        if code == 0:
            return
        # A file-size limit kills ffmpeg with SIGXFSZ (it inherits ours) or, where that
        # signal is ignored, fails its write with EFBIG; a full disk with ENOSPC. Raised as
        # the OSError a write of ours would give, which atomic_path names the file by.
        if code == -signal.SIGXFSZ or 'File too large' in error:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        if 'No space left' in error:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise RuntimeError(f'{self.path}: ffmpeg (libx264) failed with exit code {code}: '
                           f'{error[-300:]}')


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null (native libraries write there, not to sys.stderr)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_video_writer(tmp_path: str, out_path: str, fps: float,
                      size: Tuple[int, int], quiet: bool = False):
    """A writer of ``size`` = (w, h) BGR frames to ``tmp_path`` (``write``, ``release``):
    H.264 through imageio-ffmpeg's ffmpeg, else through OpenCV if its build can, else mp4v
    with a note naming ``out_path`` (unless ``quiet``)."""
    exe = _ffmpeg_exe()
    if exe is not None:
        return _FfmpegH264Writer(exe, tmp_path, fps, size)
    with _quiet_stderr():  # FFmpeg and OpenCV log every encoder they fail to open
        for fourcc in FOURCCS:
            writer = cv2.VideoWriter(tmp_path, cv2.VideoWriter_fourcc(*fourcc), fps, size)
            if writer.isOpened():
                break
            writer.release()
        else:
            raise RuntimeError(f'{out_path}: OpenCV cannot write mp4 here')
    if fourcc == 'mp4v' and not quiet:
        print(f'note: no H.264 encoder here (imageio-ffmpeg missing, OpenCV without one); '
              f'{out_path} is MPEG-4 part 2 (mp4v), which VLC/ffplay play but browsers may '
              'not (re-encode with ffmpeg -c:v libx264 for a browser)')
    return writer


class AnnotatedVideoWriter:
    """An mp4 written frame by frame and renamed into place on :meth:`close`.

    The encoder opens at the first frame's size; every frame must have that size (draw
    them at one render size). Use as a context manager: leaving it with an exception
    deletes the temporary file and keeps any previous file at ``path``.

    Args:
        path: The final ``.mp4`` file; its folder is created if missing.
        fps: Frame rate written into the container (frames per second).
        quiet: No note when the encoder falls back from H.264 to mp4v.
    """

    def __init__(self, path: str, fps: float, quiet: bool = False) -> None:
        self.path, self.fps, self.quiet = path, float(fps), quiet
        self.frames = 0
        self.size: Optional[Tuple[int, int]] = None  # (w, h)
        self._writer = None  # from open_video_writer, at the first frame
        self._atomic = atomic_path(path, suffix='.mp4')
        self._tmp_path = self._atomic.__enter__()

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 BGR frame."""
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self._writer = open_video_writer(self._tmp_path, self.path, self.fps, size,
                                             self.quiet)
            self.size = size
        elif size != self.size:
            raise ValueError(f'{self.path}: frame {self.frames + 1} is {size[0]}x{size[1]}, '
                             f'the video {self.size[0]}x{self.size[1]}')
        self._writer.write(frame)
        self.frames += 1

    def close(self, error: Optional[BaseException] = None) -> None:
        """Finish the file and move it into place; with ``error`` delete the temporary file
        instead (the previous file at ``path`` stays).

        Raises:
            ValueError: no frame was written (nothing is left behind).
            OSError: the disk ran full (one error naming ``path``).
        """
        if self._atomic is None:
            return
        atomic, self._atomic = self._atomic, None
        # Raised here, unless the caller already has an error of its own: the encoder's
        # failure at the end (ffmpeg: a full disk), or a video without frames.
        own_error = None
        if self._writer is not None:
            try:
                self._writer.release()
            except (OSError, RuntimeError) as failure:
                own_error = failure
        if error is None and own_error is None and self.frames == 0:
            own_error = ValueError(f'{self.path}: no frame was written')
        error = error or own_error
        if error is None:
            atomic.__exit__(None, None, None)
        else:  # deletes the temporary file (a full disk comes back as one OSError)
            atomic.__exit__(type(error), error, error.__traceback__)
        if error is own_error and own_error is not None:
            raise error

    def __enter__(self) -> 'AnnotatedVideoWriter':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(exc)
