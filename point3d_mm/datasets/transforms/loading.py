"""Loading the frames of a clip."""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from ...utils.video import (
    CORRUPT_FRAME_MODES,
    CorruptFrameError,
    OpenCVVideoReader,
    read_frame,
)


def set_clip_frames(results: Dict, imgs: List[np.ndarray]) -> Dict:
    """Put decoded frames into ``results`` with the geometry keys of an untransformed clip.

    Args:
        results: the clip's results dict, updated in place.
        imgs: T (H, W, 3) uint8 BGR frames of one size.

    Returns:
        ``results`` with ``imgs``, ``img_shape``, ``ori_shape``, ``original_shape``,
        ``scale_factor`` (1, 1), ``pad`` (0, 0) and ``flip`` False.
    """
    shape = imgs[0].shape[:2]
    results.update(imgs=imgs, img_shape=shape, ori_shape=shape, original_shape=shape,
                   scale_factor=np.ones(2), pad=np.zeros(2), flip=False)
    return results


def clip_results_from_frames(frames: List[np.ndarray], frame_ids: List[int],
                             key_frame_index: int, video: str = '') -> Dict:
    """The results dict that :class:`LoadClipFrames` would give for frames already in memory
    (inference on a video stream), ready for the rest of a test pipeline.

    Args:
        frames: T (H, W, 3) uint8 BGR frames.
        frame_ids: their T 1-based frame numbers.
        key_frame_index: position of the key frame in the clip.
        video: the video's name.
    """
    return set_clip_frames(dict(frame_ids=list(frame_ids), key_frame_index=key_frame_index,
                                video=video), list(frames))


@TRANSFORMS.register_module()
class LoadClipFrames(BaseTransform):
    """Load the T frames of a clip from a frame folder or a video file.

    Required keys: ``frame_ids`` (1-based frame numbers; or mmaction2's ``frame_inds`` +
    ``offset`` from ``SampleAVAFrames``) and either ``frame_dir`` + ``filename_tmpl`` (frames
    ``frame_dir/filename_tmpl.format(frame_id)``) or ``filename`` (a video file, decoded by
    :class:`OpenCVVideoReader`; frame files by :func:`~point3d_mm.utils.video.read_frame`).
    Optional: ``ori_shape`` (h, w) of the annotation, checked against the decoded frames.

    Added keys: ``imgs`` (list of T (H, W, 3) uint8 BGR arrays), ``frame_ids``,
    ``img_shape``, ``ori_shape`` and ``original_shape`` (mmaction2's name), ``scale_factor``
    (1, 1), ``pad`` (0, 0), ``flip`` False.

    Every failure names the file: a missing frame, an unreadable or truncated image, a frame
    whose size differs from the annotation's resolution (the boxes would not fit it).

    In place of mmaction2's ``RawFrameDecode`` (which decodes to RGB), it serves mmaction2's
    ``AVADataset`` with frames in the BGR order of every other point3d_mm pipeline; with
    ``relative_boxes=True`` it scales that dataset's [0, 1] ``gt_bboxes`` and ``proposals``
    to pixels, as ``RawFrameDecode`` does.

    A frame that cannot be decoded raises :class:`CorruptFrameError` naming the file and the
    frame (``on_corrupt='raise'``), or (``'skip'``, training sets) is logged and the clip
    dropped: the transform returns None and mmengine's dataset draws another clip. A test set
    cannot drop clips (mmengine raises on None there).

    Args:
        check_shape: Raise when a frame's size differs from ``ori_shape``.
        relative_boxes: The results' boxes are relative to the frame size.
        backend_args: mmengine file backend arguments for frame files.
        on_corrupt: 'raise' or 'skip' a clip with an undecodable frame.
    """

    def __init__(self, check_shape: bool = True, relative_boxes: bool = False,
                 backend_args: Optional[Dict] = None, on_corrupt: str = 'raise') -> None:
        if on_corrupt not in CORRUPT_FRAME_MODES:
            raise ValueError(f'on_corrupt must be one of {CORRUPT_FRAME_MODES}, got '
                             f'{on_corrupt!r}')
        self.check_shape = check_shape
        self.relative_boxes = relative_boxes
        self.backend_args = backend_args
        self.on_corrupt = on_corrupt
        self._reader: Optional[OpenCVVideoReader] = None

    def __getstate__(self) -> Dict:
        # A decoder cannot be pickled (spawned dataloader workers); each worker opens its own.
        state = self.__dict__.copy()
        state['_reader'] = None
        return state

    def _read_video(self, filepath: str, frame_ids) -> list:
        if self._reader is None or self._reader.path != filepath:
            if self._reader is not None:
                self._reader.close()
            self._reader = OpenCVVideoReader(filepath)
        return self._reader.read(frame_ids)

    def transform(self, results: Dict) -> Optional[Dict]:
        """Load the frames; see the class docstring for the keys."""
        try:
            return self._load(results)
        except CorruptFrameError as error:
            if self.on_corrupt == 'raise':
                raise
            from mmengine.logging import print_log
            print_log(f'skipped a clip of {results.get("video", "?")}: {error}',
                      logger='current', level=30)
            return None

    def _load(self, results: Dict) -> Dict:
        if 'frame_ids' not in results:
            inds = np.asarray(results['frame_inds']).reshape(-1) + results.get('offset', 0)
            results['frame_ids'] = inds.tolist()
        frame_ids = results['frame_ids']
        if 'filename' in results:
            imgs = self._read_video(results['filename'], frame_ids)
            sources = [f"{results['filename']} (frame {f})" for f in frame_ids]
        else:
            sources = [osp.join(results['frame_dir'], results['filename_tmpl'].format(f))
                       for f in frame_ids]
            cache = {}
            for source in sources:
                if source not in cache:  # clamped clips repeat the end frames
                    cache[source] = read_frame(source, self.backend_args)
            imgs = [cache[source] for source in sources]
        # Clamped clips repeat frames: give each its own array, since an in-place transform
        # (mmaction2's Flip) would otherwise flip a shared one twice.
        seen = set()
        for i, img in enumerate(imgs):
            if id(img) in seen:
                imgs[i] = img.copy()
            seen.add(id(img))

        shape = imgs[0].shape[:2]
        for img, source in zip(imgs, sources):
            if img.shape[:2] != shape:
                raise ValueError(f'{source}: frame is {img.shape[1]}x{img.shape[0]} (w x h) '
                                 f'but {sources[0]} of the same clip is '
                                 f'{shape[1]}x{shape[0]}')
        expected = results.get('ori_shape')
        if self.check_shape and expected is not None and tuple(expected) != shape:
            raise ValueError(f'{sources[0]}: frame is {shape[1]}x{shape[0]} (w x h) but the '
                             f'annotation gives resolution (h, w) = {tuple(expected)}')
        if self.relative_boxes:
            h, w = shape
            for key in ('gt_bboxes', 'proposals'):
                if key in results:
                    results[key] = (np.asarray(results[key]) *
                                    np.array([w, h, w, h])).astype(np.float32)
        return set_clip_frames(results, imgs)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(check_shape={self.check_shape}, '
                f'relative_boxes={self.relative_boxes}, backend_args={self.backend_args}, '
                f'on_corrupt={self.on_corrupt!r})')
