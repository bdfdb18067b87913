"""Decoding video: the one place point3d_mm opens a video file, lists a frame folder or reads
a frame image.

* :class:`OpenCVVideoReader`: random access by 1-based frame number (the dataset's clips).
* :func:`list_frames` and :func:`read_frame`: a frame folder's frames and one frame image.
* :func:`iter_numbered_frames`: one forward pass over a video file, a frame folder or any
  iterable of frames (inference, the demo), with corrupt-frame handling.
* :func:`video_info`: frame count and frame rate without decoding.
* :class:`LiveSource` and :class:`LiveFrameReader`: live input (a camera, a stream URL, a
  pipe or FIFO, raw frames on stdin) read once, in a background thread, into a bounded
  queue that drops frames when its consumer falls behind.

Frames are (H, W, 3) uint8 BGR arrays, as OpenCV decodes them.
"""
import os
import os.path as osp
import re
import stat
import string
import sys
import threading
import time
from collections import deque
from typing import BinaryIO, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

#: Image files that count as frames in a frame folder (lower-case suffixes).
FRAME_EXTENSIONS = ('.jpg', '.jpeg', '.png')
#: File name of frame ``i`` (1-based) in the frame folders point3d_mm writes.
FRAME_TMPL = '{:05d}.jpg'
CORRUPT_FRAME_MODES = ('raise', 'skip')
#: Consecutive undecodable frames after which a video is taken to end there.
_MAX_CORRUPT_RUN = 100
#: Largest frame image decoded (8192 x 8192; 8K video is 7680 x 4320): OpenCV decodes up to
#: 2**30 pixels, so one corrupt size field of a 600-byte JPEG would take 6 GB and 10 s.
MAX_FRAME_PIXELS = 1 << 26

Frames = Union[str, Sequence[np.ndarray], Iterable[np.ndarray]]


class CorruptFrameError(ValueError):
    """A frame of a video file (or a frame image) cannot be decoded; the message names the
    file and the frame number."""


def is_stream_url(source: str) -> bool:
    """Whether ``source`` names a network stream (``rtsp://``, ``http(s)://``, ...) or
    FFmpeg's standard input (``pipe:0``) rather than a file."""
    return '://' in source or source.startswith('pipe:')


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def open_capture(path: Union[str, int]) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture``: the one place point3d_mm creates one.

    Args:
        path: a video file, a FIFO (named pipe) carrying a video, a stream URL
            (``rtsp://``, ``http://``, ...), ``'pipe:0'`` (a video on standard input) or a
            camera index (int).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: OpenCV cannot open it (corrupt, a codec it lacks, no such camera, an
            unreachable stream, a piped container that needs seeking).
    """
    if isinstance(path, int):
        capture = cv2.VideoCapture(path)
        if not capture.isOpened():
            raise ValueError(f'cannot open camera {path} (no such device, in use by another '
                             'program, or no permission?)')
        return capture
    if is_stream_url(path) or _is_fifo(path):
        capture = cv2.VideoCapture(path)
        if not capture.isOpened():
            what = ('the video on standard input' if path.startswith('pipe:') else
                    f'stream {path}' if '://' in path else f'the video in FIFO {path}')
            raise ValueError(f'cannot open {what} (unreachable, or a container that needs '
                             'seeking, such as an mp4 with its index at the end: pipe mpegts, '
                             'mkv, avi or raw frames instead)')
        return capture
    if not osp.isfile(path):
        raise FileNotFoundError(f'video file {path} does not exist')
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f'cannot open video file {path} (corrupt or an unsupported codec?)')
    return capture


def list_frames(folder: str, filename_tmpl: Optional[str] = None) -> List[Tuple[int, str]]:
    """The frames of a frame folder: (1-based frame number, file name) pairs by number.

    Args:
        folder: The frame folder.
        filename_tmpl: The file name of frame ``i`` is ``filename_tmpl.format(i)`` (a
            dataset's frames; one ``{}`` field, an integer): only exact names count, so with
            ``'{:05d}.jpg'`` neither ``1.jpg`` nor ``000001.jpg`` is a frame, and numbers may
            have gaps. None: every image file (:data:`FRAME_EXTENSIONS`) is a frame, numbered
            1, 2, ... in name order (any folder of images read as a video).

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        ValueError: ``filename_tmpl`` has not exactly one field.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'frame folder {folder} does not exist')
    names = os.listdir(folder)
    if filename_tmpl is None:
        images = sorted(name for name in names if name.lower().endswith(FRAME_EXTENSIONS))
        return list(enumerate(images, start=1))
    pattern = _template_pattern(filename_tmpl)
    frames = []
    for name in names:
        match = pattern.match(name)
        if match and filename_tmpl.format(int(match.group(1))) == name:
            frames.append((int(match.group(1)), name))
    return sorted(frames)


def _template_pattern(filename_tmpl: str) -> 're.Pattern':
    """A regex matching the file names of ``filename_tmpl``, the number as its group 1."""
    fields = [field for _, field, _, _ in string.Formatter().parse(filename_tmpl)
              if field is not None]
    if len(fields) != 1:
        raise ValueError(f"filename template '{filename_tmpl}' must have exactly one {{}} "
                         'field, the frame number')
    prefix, rest = filename_tmpl.split('{', 1)
    suffix = rest.split('}', 1)[1]
    return re.compile(re.escape(prefix) + r'(\d+)' + re.escape(suffix) + r'\Z')


def read_frame(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Decode one frame image (JPEG, PNG, ...).

    Args:
        path: The image file.
        backend_args: mmengine file backend arguments (frames in other storage); None reads
            a local file.

    Returns:
        (H, W, 3) uint8 BGR array.

    Raises:
        FileNotFoundError: the file does not exist.
        CorruptFrameError: it cannot be decoded as an image (corrupt, truncated, not an image),
            or declares more than :data:`MAX_FRAME_PIXELS` pixels.
    """
    try:
        if backend_args:
            from mmengine import fileio
            data = fileio.get(path, backend_args=backend_args)
        else:
            with open(path, 'rb') as f:
                data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f'frame file {path} does not exist') from None
    size = _declared_size(data[:1 << 16])
    if size is not None and size[0] * size[1] > MAX_FRAME_PIXELS:
        raise CorruptFrameError(f'frame file {path} declares {size[0]}x{size[1]} pixels, more '
                                f'than {MAX_FRAME_PIXELS} (corrupt?)')
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:  # OpenCV >= 5 also refuses truncated JPEGs here
        raise CorruptFrameError(f'frame file {path} cannot be decoded as an image (corrupt, '
                                'truncated or not an image)')
    return img


def video_info(video: str) -> Tuple[Optional[int], Optional[float]]:
    """(number of frames, frames per second) of a video file or frame folder, each None when
    unknown, without decoding."""
    if osp.isdir(video):
        return len(list_frames(video)) or None, None
    capture = open_capture(video)
    try:
        return (int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None,
                capture.get(cv2.CAP_PROP_FPS) or None)
    finally:
        capture.release()


class OpenCVVideoReader:
    """Read frames of a video file by 1-based frame number, opening the file on first use.

    Consecutive clips of one video (the test-mode order) are read forward without seeking:
    the reader remembers its position and grabs the frames in between when the next wanted
    frame is close ahead, and seeks otherwise.

    Args:
        path: The video file.
        max_forward: Largest gap (frames) read forward instead of seeking.
    """

    def __init__(self, path: str, max_forward: int = 32) -> None:
        self.path = path
        self.max_forward = max_forward
        self._cap = None
        self._pos = 0  # 0-based index of the frame the next cap.read() returns

    def _open(self) -> cv2.VideoCapture:
        if self._cap is None:
            self._cap = open_capture(self.path)
            self._pos = 0
        return self._cap

    def __len__(self) -> int:
        """Frame count reported by the container (0 when it reports none: a damaged
        container reports -1 or less)."""
        return max(int(self._open().get(cv2.CAP_PROP_FRAME_COUNT)), 0)

    def read(self, frame_ids: Sequence[int]) -> List[np.ndarray]:
        """Decode the given 1-based frames.

        Args:
            frame_ids: Frame numbers (1-based, any order, repeats allowed).

        Returns:
            One (H, W, 3) uint8 BGR array per entry of ``frame_ids``.

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: the file cannot be opened.
            CorruptFrameError: a frame cannot be decoded (the reader reopens the file on its
                next read, so a corrupt frame never shifts the frames read after it).
        """
        cap = self._open()
        decoded = {}
        for frame_id in sorted(set(int(f) for f in frame_ids)):
            index = frame_id - 1
            if not 0 <= index - self._pos <= self.max_forward:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                self._pos = index
            while self._pos < index:
                cap.grab()
                self._pos += 1
            ok, frame = cap.read()
            if not ok:
                count = len(self)
                self.close()  # the decoder's position is unknown now: reopen next time
                raise CorruptFrameError(f'cannot decode frame {frame_id} of video file '
                                        f'{self.path} (the container reports {count} frames)')
            self._pos += 1
            decoded[frame_id] = frame
        return [decoded[int(f)] for f in frame_ids]

    def close(self) -> None:
        """Release the decoder."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def iter_numbered_frames(video: Frames, on_corrupt: str = 'raise'
                         ) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield ``(frame_number, frame)`` pairs, 1-based, BGR, one at a time.

    A frame that cannot be decoded (a corrupt frame of a video file before the end its
    container reports, or an unreadable image of a frame folder) is an error naming the file
    and the frame number (``on_corrupt='raise'``), or is logged with its number and left out
    (``'skip'``): the numbers of the following frames stay those of the video, so detections
    and boxes stay on their frames.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the video cannot be opened or yields no frame, or (``'raise'``) a frame
            cannot be decoded (:class:`CorruptFrameError`).
    """
    if on_corrupt not in CORRUPT_FRAME_MODES:
        raise ValueError(f'on_corrupt must be one of {CORRUPT_FRAME_MODES}, got {on_corrupt!r}')
    if not isinstance(video, str):
        yield from enumerate(video, start=1)
        return
    if not osp.exists(video):
        raise FileNotFoundError(f'{video}: no such video file or frame folder')
    if osp.isdir(video):
        yield from _iter_folder(video, on_corrupt)
    else:
        yield from _iter_file(video, on_corrupt)


def _iter_folder(folder: str, on_corrupt: str) -> Iterator[Tuple[int, np.ndarray]]:
    frames = list_frames(folder)
    if not frames:
        raise ValueError(f'{folder}: the folder holds no frame images '
                         f'({", ".join(FRAME_EXTENSIONS)})')
    for number, name in frames:
        try:
            yield number, read_frame(osp.join(folder, name))
        except CorruptFrameError as error:
            _corrupt_frame(f'{error} (frame {number})', on_corrupt)


def _declared_size(head: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) that a JPEG or PNG file's first bytes declare, without decoding it;
    None for other files or when no size is found."""
    if head.startswith(b'\x89PNG\r\n\x1a\n') and head[12:16] == b'IHDR':
        return int.from_bytes(head[16:20], 'big'), int.from_bytes(head[20:24], 'big')
    if not head.startswith(b'\xff\xd8'):
        return None
    at = 2
    while at + 9 <= len(head) and head[at] == 0xFF:
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            return (int.from_bytes(head[at + 7:at + 9], 'big'),
                    int.from_bytes(head[at + 5:at + 7], 'big'))
        at += 2 + int.from_bytes(head[at + 2:at + 4], 'big')
    return None


def _iter_file(video: str, on_corrupt: str) -> Iterator[Tuple[int, np.ndarray]]:
    capture = open_capture(video)
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    number, decoded, failed = 0, 0, []
    try:
        while True:
            number += 1
            ok, frame = capture.read()
            if not ok:
                # A failed read consumes the frame's packet: the next read returns the next
                # frame. Before the declared end it is a corrupt frame; past it, the end.
                failed.append(number)
                if number > declared or len(failed) >= _MAX_CORRUPT_RUN:
                    break
                continue
            for bad in failed:
                _corrupt_frame(f'{video}: frame {bad} cannot be decoded (corrupt; the '
                               f'container reports {declared} frames)', on_corrupt)
            failed = []
            decoded += 1
            yield number, frame
    finally:
        capture.release()
    if decoded == 0:
        raise ValueError(f'{video}: no frame could be decoded')
    if failed and failed[0] <= declared:
        # Nothing after them is misnumbered (and containers may over-count): a warning.
        _corrupt_frame(f'{video}: the last frames, {failed[0]} to {declared}, cannot be '
                       f'decoded (the container reports {declared} frames; truncated file?)',
                       'skip')


def _corrupt_frame(message: str, on_corrupt: str) -> None:
    if on_corrupt == 'raise':
        raise CorruptFrameError(message + "; pass on_corrupt='skip' to go on without it")
    from mmengine.logging import print_log
    print_log('skipped: ' + message, logger='current', level=30)


def iter_video_frames(video: Frames, on_corrupt: str = 'raise') -> Iterator[np.ndarray]:
    """Yield BGR frames one at a time; see :func:`iter_numbered_frames`."""
    for _, frame in iter_numbered_frames(video, on_corrupt):
        yield frame


def iter_raw_frames(stream: BinaryIO, width: int, height: int,
                    name: str = 'standard input') -> Iterator[np.ndarray]:
    """Yield (height, width, 3) uint8 BGR frames from a stream of raw ``bgr24`` frames
    (``ffmpeg ... -f rawvideo -pix_fmt bgr24 -``), until it ends.

    Raises:
        ValueError: the stream ends inside a frame (a wrong ``width`` x ``height``?).
    """
    size = width * height * 3
    if width < 1 or height < 1:
        raise ValueError(f'raw frames need a size of at least 1x1, got {width}x{height}')
    while True:
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            n = stream.readinto(view[got:])
            if not n:
                break
            got += n
        if got == 0:
            return
        if got < size:
            raise ValueError(f'{name}: the raw frames end {got} bytes into a frame of '
                             f'{width}x{height}x3 = {size} bytes (is the size right?)')
        yield np.frombuffer(buffer, np.uint8).reshape(height, width, 3)


class LiveSource:
    """A live video source, opened, for one forward pass.

    Args:
        source: a camera index (``'0'``), a stream URL (``rtsp://``, ``http://``, ...),
            ``'-'`` (standard input: raw ``bgr24`` frames with ``raw_size``, else a video
            container such as mpegts, mkv or avi), a FIFO, or a video file.
        raw_size: (width, height) of raw frames on standard input or in a FIFO.

    Attributes:
        kind: 'camera', 'url', 'stdin', 'fifo' or 'file'.
        fps: the frame rate the source declares (None when unknown; cameras and pipes often
            declare none or a wrong one).
    """

    def __init__(self, source: str, raw_size: Optional[Tuple[int, int]] = None) -> None:
        self.name, self.raw_size = source, raw_size
        self._capture: Optional[cv2.VideoCapture] = None
        self._stream: Optional[BinaryIO] = None
        self.fps: Optional[float] = None
        if source.isdigit():
            self.kind, target = 'camera', int(source)
        elif source == '-':
            self.kind, target = 'stdin', 'pipe:0'
        elif is_stream_url(source):
            self.kind, target = 'url', source
        elif _is_fifo(source):
            self.kind, target = 'fifo', source
        else:
            self.kind, target = 'file', source
        if self.kind == 'stdin':
            self.name = 'standard input'
        if raw_size is not None:
            if self.kind not in ('stdin', 'fifo'):
                raise ValueError(f'{source}: raw frames come on standard input (-) or a FIFO')
            self._stream = sys.stdin.buffer if self.kind == 'stdin' else open(source, 'rb')
            return
        if self.kind == 'file':  # the usual checks and messages, then one forward pass
            self.fps = video_info(source)[1]
            return
        self._capture = open_capture(target)
        self.fps = self._capture.get(cv2.CAP_PROP_FPS) or None

    def __iter__(self) -> Iterator[np.ndarray]:
        """The source's (H, W, 3) uint8 BGR frames until it ends (a camera: until it
        fails)."""
        if self._stream is not None:
            yield from iter_raw_frames(self._stream, *self.raw_size, name=self.name)
        elif self.kind == 'file':
            # Corrupt frames are reported and skipped: a live view goes on past them.
            for _, frame in _iter_file(self.name, 'skip'):
                yield frame
        else:
            while True:
                ok, frame = self._capture.read()
                if not ok:
                    return
                yield frame

    def close(self) -> None:
        """Release the decoder or the pipe."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        if self._stream is not None and self._stream is not sys.stdin.buffer:
            self._stream.close()
        self._stream = None


class LiveFrame(NamedTuple):
    """A frame of a live source: its 1-based number in the source, the (H, W, 3) uint8 BGR
    frame and when it was read (``time.monotonic()`` seconds)."""
    number: int
    frame: np.ndarray
    time: float


class LiveFrameReader:
    """Read a source once, in a background thread, into a queue of at most ``queue_size``
    frames; when the queue is full the oldest queued frame is dropped (counted), so that a
    consumer that falls behind sees the newest frames rather than an ever older backlog.

    Iterate to get the frames (:class:`LiveFrame`) until the source ends (errors of the
    reading thread are raised here). ``read`` counts the frames taken from the source, ``dropped``
    those dropped, ``delivered`` those handed out; once the iteration has ended,
    ``delivered + dropped == read`` (:meth:`close` before the end counts the frames still
    queued as dropped).

    Args:
        frames: the source's frames (a :class:`LiveSource`, or any iterable); its
            ``close()``, if any, is called by the reading thread when it stops (the thread
            that reads a decoder is the one that releases it).
        queue_size: frames waiting at most (>= 1).
        pace_fps: hand frames to the queue no faster than this (a file read as a camera
            would deliver it); None or 0 reads as fast as the source gives them.
    """

    def __init__(self, frames: Iterable[np.ndarray], queue_size: int = 2,
                 pace_fps: Optional[float] = None) -> None:
        if queue_size < 1:
            raise ValueError(f'queue_size must be >= 1, got {queue_size}')
        self.frames, self.queue_size, self.pace_fps = frames, queue_size, pace_fps or None
        self.read = self.dropped = self.delivered = 0
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._done = self._stop = False
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name='live-reader', daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        try:
            for frame in self.frames:
                if self.pace_fps:  # frame k is due k / fps seconds after the first
                    delay = start + self.read / self.pace_fps - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                with self._cond:
                    if self._stop:
                        return
                    self.read += 1
                    if len(self._queue) >= self.queue_size:
                        self._queue.popleft()
                        self.dropped += 1
                    self._queue.append(LiveFrame(self.read, frame, time.monotonic()))
                    self._cond.notify()
        except BaseException as error:  # raised in the consumer's thread
            self._error = error
        finally:
            close = getattr(self.frames, 'close', None)
            if close is not None:
                close()
            with self._cond:
                self._done = True
                self._cond.notify()

    def __iter__(self) -> Iterator[LiveFrame]:
        while True:
            with self._cond:
                while not self._queue and not self._done:
                    self._cond.wait()
                if self._queue:
                    item = self._queue.popleft()
                    self.delivered += 1
                elif self._error is not None:
                    raise self._error
                else:
                    return
            yield item

    def close(self, timeout: float = 1.0) -> None:
        """Stop reading (the frames still queued count as dropped) and wait up to
        ``timeout`` seconds for the reading thread (a camera read may block longer; the
        thread is a daemon)."""
        with self._cond:
            self._stop = True
            self.dropped += len(self._queue)
            self._queue.clear()
        self._thread.join(timeout)

    def __enter__(self) -> 'LiveFrameReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
