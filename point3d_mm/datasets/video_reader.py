"""A lazy OpenCV video reader: the one decoder path for video files in point3d_mm."""
import os
from typing import List, Sequence

import cv2
import numpy as np


class CorruptFrameError(ValueError):
    """A frame of a video file (or a frame image) cannot be decoded; the message names the
    file and the frame number."""


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
            if not os.path.isfile(self.path):
                raise FileNotFoundError(f'video file {self.path} does not exist')
            cap = cv2.VideoCapture(self.path)
            if not cap.isOpened():
                raise ValueError(f'cannot open video file {self.path} (corrupt or an '
                                 'unsupported codec?)')
            self._cap = cap
            self._pos = 0
        return self._cap

    def __len__(self) -> int:
        """Frame count reported by the container."""
        return int(self._open().get(cv2.CAP_PROP_FRAME_COUNT))

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
