"""Extracting video frames to ``<out>/<video>/00001.jpg ...`` and checking frame folders.

Frames are decoded by :class:`~point3d_mm.utils.video.OpenCVVideoReader`, the decoder that
:class:`~point3d_mm.datasets.ACTDataset` uses for video files, so a dataset read from extracted
frames and one read from the videos see the same pictures (up to JPEG loss). Frame ``i`` of a
video (1-based, as in the ACT ground truth) is written as ``filename_tmpl.format(i)``.

A video's frames are written into a folder beside its own and swapped into place when
complete (``fileio.atomic_folder``), so an interrupted run leaves no folder that looks
finished, and a re-run skips the videos already extracted.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

import cv2

from ...structures.act_format import format_ranges
from ...utils.fileio import atomic_folder
from ...utils.video import FRAME_TMPL, OpenCVVideoReader, list_frames


@dataclass
class ExtractionResult:
    """What extracting one video gave.

    Attributes:
        video: The video name (relative path without extension).
        decoded: Frames decoded and written (or found already extracted).
        reported: Frame count the container reports (``CAP_PROP_FRAME_COUNT``); None for a
            folder kept from an earlier run.
        expected: Frame count of the annotation (``nframes``), if one was given.
        error: Why the video could not be extracted, or None.
    """
    video: str
    decoded: int = 0
    reported: Optional[int] = None
    expected: Optional[int] = None
    error: Optional[str] = None

    @property
    def problem(self) -> Optional[str]:
        """A sentence naming the video if it failed or its count differs from ``expected``."""
        if self.error:
            return f"video '{self.video}': {self.error}"
        if self.expected is not None and self.decoded != self.expected:
            container = ('' if self.reported is None else
                         f' (the container reports {self.reported})')
            return (f"video '{self.video}': {self.decoded} frames extracted, the annotation's "
                    f'nframes is {self.expected}{container}')
        return None


def count_frames(frame_dir: str, filename_tmpl: str = FRAME_TMPL) -> int:
    """Number of frames of a folder whose frames run from 1 without gaps.

    Raises:
        FileNotFoundError: the folder does not exist or holds no frame named by the template.
        ValueError: frame numbers have gaps or do not start at 1 (the message names the folder
            and the missing frames).
    """
    numbers = [number for number, _ in list_frames(frame_dir, filename_tmpl)]
    if not numbers:
        raise FileNotFoundError(f"frame folder {frame_dir} holds no frame named like "
                                f"'{filename_tmpl.format(1)}'")
    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if missing:
        raise ValueError(f'frame folder {frame_dir} has gaps: frames {format_ranges(missing)} '
                         f'are missing ({len(numbers)} files up to '
                         f'{filename_tmpl.format(numbers[-1])})')
    return len(numbers)


def extract_frames(video_path: str, out_dir: str, filename_tmpl: str = FRAME_TMPL,
                   jpeg_quality: int = 95) -> Tuple[int, int]:
    """Decode every frame of a video and write them to ``out_dir`` from frame 1.

    Decoding runs until the decoder stops, which may differ from the container's frame count
    (both are returned). The folder appears under its final name only when complete.

    Args:
        video_path: The video file.
        out_dir: Folder to create (its parent is created too).
        filename_tmpl: File name template of frame ``i`` (1-based).
        jpeg_quality: JPEG quality 0-100 (OpenCV's default is 95); the template's extension
            picks the format (``.png`` is lossless).

    Returns:
        Frames decoded and written, and the frame count the container reports.

    Raises:
        FileNotFoundError: the video does not exist.
        ValueError: it cannot be opened or holds no decodable frame.
        OSError: a frame cannot be written.
    """
    reader = OpenCVVideoReader(video_path)
    reported = len(reader)
    is_jpeg = filename_tmpl.lower().endswith(('.jpg', '.jpeg'))
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if is_jpeg else []
    decoded = 0
    try:
        # A failure removes the half-written folder (a full disk gets its space back).
        with atomic_folder(out_dir) as part_dir:
            while True:
                try:
                    # Consecutive frames are read forward, without seeking.
                    frame = reader.read([decoded + 1])[0]
                except ValueError:  # the decoder's end of stream
                    break
                decoded += 1
                path = osp.join(part_dir, filename_tmpl.format(decoded))
                if not cv2.imwrite(path, frame, params):
                    # OpenCV reports no reason; a full disk is the usual one
                    raise OSError(f'could not write frame {decoded} of {out_dir} (as {path}; '
                                  'disk full or file too large?)')
            if decoded == 0:
                raise ValueError(f'{video_path}: no frame could be decoded (the container '
                                 f'reports {reported})')
    finally:
        reader.close()
    return decoded, reported


def extract_videos(videos_root: str, out_root: str, videos: Sequence[str],
                   video_ext: str = '.mp4', nframes: Optional[Mapping[str, int]] = None,
                   filename_tmpl: str = FRAME_TMPL, jpeg_quality: int = 95,
                   overwrite: bool = False) -> List[ExtractionResult]:
    """Extract the frames of many videos, going on past failures.

    Video ``v`` is read from ``<videos_root>/<v><video_ext>`` and written to
    ``<out_root>/<v>/``. A folder already complete (frames 1..n without gaps) is kept unless
    ``overwrite``.

    Args:
        videos_root: Folder of the videos.
        out_root: Folder of the frame folders.
        videos: Video names, relative paths without extension (``'brush_hair/v1'``).
        video_ext: Extension of the video files.
        nframes: Expected frame counts (the ACT ``nframes``), compared per video.
        filename_tmpl: Frame file name template.
        jpeg_quality: JPEG quality.
        overwrite: Extract again videos whose folder exists.

    Returns:
        One result per video, in order; :attr:`ExtractionResult.problem` tells the failed and
        mismatched ones.
    """
    results = []
    for video in videos:
        expected = None if nframes is None else nframes.get(video)
        out_dir = osp.join(out_root, video)
        if osp.isdir(out_dir) and not overwrite:
            try:
                count = count_frames(out_dir, filename_tmpl)
                results.append(ExtractionResult(video, count, None, expected))
                continue
            except (FileNotFoundError, ValueError):
                pass  # incomplete: extract again
        try:
            decoded, reported = extract_frames(osp.join(videos_root, video + video_ext),
                                               out_dir, filename_tmpl, jpeg_quality)
            results.append(ExtractionResult(video, decoded, reported, expected))
        except (OSError, ValueError) as error:
            results.append(ExtractionResult(video, expected=expected, error=str(error)))
    return results


def find_videos(videos_root: str, video_ext: str) -> List[str]:
    """Names (relative paths without extension) of the ``*video_ext`` files under a folder."""
    names = []
    for folder, _, files in os.walk(videos_root):
        for name in files:
            if name.endswith(video_ext):
                rel = osp.relpath(osp.join(folder, name), videos_root)
                names.append(rel[:-len(video_ext)].replace(os.sep, '/'))
    return sorted(names)
