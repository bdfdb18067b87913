"""Clip-level augmentations: one set of parameters for all T frames of a clip.

Each transform updates the images (``imgs``), the boxes (``gt_bboxes``, and ``proposals`` of
mmaction2's AVA pipeline), the knots (``gt_knots``) and the map back to the original frame
(``scale_factor``, ``pad``, ``flip``; see :mod:`.geometry`). They accept the results of
:class:`LoadClipFrames` and of mmaction2's ``RawFrameDecode`` alike.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from ...structures.geometry import BOX_KNOT_FLIP_INDICES, flip_boxes, flip_knots
from .affine import INSTANCE_KEYS, affine_results


def _as_size(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``int`` or (w, h) → (w, h)."""
    if isinstance(size, int):
        return size, size
    w, h = size
    return int(w), int(h)


def _init_geometry(results: Dict) -> None:
    # mmaction2's RawFrameDecode sets neither pad nor flip.
    results.setdefault('scale_factor', np.ones(2))
    results.setdefault('pad', np.zeros(2))
    results.setdefault('flip', False)


@TRANSFORMS.register_module()
class ClipResize(BaseTransform):
    """Resize every frame of a clip to a fixed size, optionally letterboxed.

    Args:
        scale: Output size, ``int`` (square) or (w, h).
        keep_ratio: Keep the aspect ratio: scale to fit inside ``scale``. Without
            ``letterbox`` the output is then smaller than ``scale`` along one side.
        letterbox: With ``keep_ratio``, pad the resized frames to exactly ``scale``,
            centred; ``pad`` records the (left, top) offset.
        pad_val: Letterbox fill value.
        interpolation: mmcv interpolation name.

    Modified keys: ``imgs``, ``img_shape``, ``gt_bboxes``, ``proposals``, ``gt_knots``,
    ``scale_factor``, ``pad``.
    """

    def __init__(self, scale: Union[int, Sequence[int]], keep_ratio: bool = False,
                 letterbox: bool = False, pad_val: int = 0,
                 interpolation: str = 'bilinear') -> None:
        if letterbox and not keep_ratio:
            raise ValueError('ClipResize: letterbox=True needs keep_ratio=True')
        self.scale = _as_size(scale)
        self.keep_ratio = keep_ratio
        self.letterbox = letterbox
        self.pad_val = pad_val
        self.interpolation = interpolation

    def transform(self, results: Dict) -> Dict:
        """Resize; see the class docstring."""
        _init_geometry(results)
        h, w = results['img_shape']
        out_w, out_h = self.scale
        if self.keep_ratio:
            ratio = min(out_w / w, out_h / h)
            new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))
        else:
            new_w, new_h = out_w, out_h
        imgs = [mmcv.imresize(img, (new_w, new_h), interpolation=self.interpolation)
                for img in results['imgs']]
        # The factors of the resized content as rounded to whole pixels, so that boxes stay
        # exactly on the image content.
        sx, sy = new_w / w, new_h / h
        left = top = 0
        if self.letterbox:
            left, top = (out_w - new_w) // 2, (out_h - new_h) // 2
            canvas = np.full((len(imgs), out_h, out_w, imgs[0].shape[2]), self.pad_val,
                             dtype=imgs[0].dtype)
            canvas[:, top:top + new_h, left:left + new_w] = np.stack(imgs)
            imgs = list(canvas)
        results['imgs'] = imgs
        affine_results(results, (sx, sy), (left, top), imgs[0].shape[:2])
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, keep_ratio={self.keep_ratio}, '
                f'letterbox={self.letterbox}, pad_val={self.pad_val}, '
                f'interpolation={self.interpolation})')


@TRANSFORMS.register_module()
class ClipRandomFlip(BaseTransform):
    """Flip every frame of a clip horizontally with probability ``prob``.

    Boxes are mirrored; knots are mirrored and reordered, since a flip turns a left knot into
    a right one: with ``knot_flip_indices`` from the results (a dataset with joints supplies
    its own) or, by default, the box-derived order top, right, bottom, left.

    Args:
        prob: Flip probability.

    Modified keys: ``imgs``, ``gt_bboxes``, ``proposals``, ``gt_knots``, ``flip``; adds
    ``flip_direction`` ('horizontal') as mmaction2 does.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'ClipRandomFlip: prob must be in [0, 1], got {prob}')
        self.prob = prob

    @cache_randomness
    def _do_flip(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: Dict) -> Dict:
        """Flip (or not); see the class docstring."""
        _init_geometry(results)
        results['flip_direction'] = 'horizontal'
        if not self._do_flip():
            return results
        width = results['img_shape'][1]
        results['imgs'] = [np.ascontiguousarray(img[:, ::-1]) for img in results['imgs']]
        for key in ('gt_bboxes', 'proposals'):
            if key in results:
                results[key] = flip_boxes(results[key], width)
        if 'gt_knots' in results:
            knots = results['gt_knots']
            indices = results.get('knot_flip_indices')
            if indices is None:
                if knots.shape[1] != len(BOX_KNOT_FLIP_INDICES):
                    raise ValueError(f'ClipRandomFlip: {knots.shape[1]} knots per box but no '
                                     "'knot_flip_indices' in the results to reorder them")
                indices = BOX_KNOT_FLIP_INDICES
            results['gt_knots'] = flip_knots(knots, width, indices)
        results['flip'] = not results['flip']
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class ClipRandomCrop(BaseTransform):
    """Crop the same random window from every frame of a clip and clip the boxes to it.

    Ground-truth boxes whose clipped width or height falls below ``min_size`` vanish: their
    rows are dropped from every per-instance key (boxes, labels, frame indices, track ids,
    knots). Knots move with the crop and are not clipped (a joint may lie outside the view).
    Proposals are clipped but kept, as mmaction2 does.

    Args:
        size: Crop size, ``int`` (square) or (w, h); a frame smaller than it along a side is
            kept whole along that side.
        min_size: Smallest clipped box side, in pixels, that keeps a box.

    Modified keys: ``imgs``, ``img_shape``, the per-instance keys, ``proposals``,
    ``scale_factor``, ``pad``.
    """

    def __init__(self, size: Union[int, Sequence[int]], min_size: float = 1.0) -> None:
        self.size = _as_size(size)
        self.min_size = min_size

    @cache_randomness
    def _sample_origin(self, h: int, w: int, crop_h: int, crop_w: int) -> Tuple[int, int]:
        return (int(np.random.randint(0, w - crop_w + 1)),
                int(np.random.randint(0, h - crop_h + 1)))

    def transform(self, results: Dict) -> Dict:
        """Crop; see the class docstring."""
        _init_geometry(results)
        h, w = results['img_shape']
        crop_w, crop_h = min(self.size[0], w), min(self.size[1], h)
        x0, y0 = self._sample_origin(h, w, crop_h, crop_w)
        results['imgs'] = [img[y0:y0 + crop_h, x0:x0 + crop_w] for img in results['imgs']]
        affine_results(results, (1., 1.), (-x0, -y0), (crop_h, crop_w))
        limits = np.array([crop_w, crop_h, crop_w, crop_h], np.float32)
        if 'proposals' in results:
            results['proposals'] = np.clip(results['proposals'], 0, limits).astype(np.float32)
        if 'gt_bboxes' in results:
            boxes = np.clip(results['gt_bboxes'], 0, limits).astype(np.float32)
            keep = ((boxes[:, 2] - boxes[:, 0] >= self.min_size) &
                    (boxes[:, 3] - boxes[:, 1] >= self.min_size))
            results['gt_bboxes'] = boxes
            for key in INSTANCE_KEYS:
                if key in results:
                    results[key] = results[key][keep]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(size={self.size}, min_size={self.min_size})'


@TRANSFORMS.register_module()
class ClipColorJitter(BaseTransform):
    """Jitter brightness, contrast, saturation and hue, identically for all frames of a clip.

    Factors are drawn once per clip (a per-frame draw would add flicker that no real video
    has): brightness and contrast and saturation multiply by a factor in ``[1 - x, 1 + x]``,
    hue shifts by a fraction of the colour circle in ``[-hue, hue]``. Frames stay uint8 BGR.

    Args:
        brightness: Brightness jitter amount.
        contrast: Contrast jitter amount.
        saturation: Saturation jitter amount.
        hue: Hue jitter amount, at most 0.5.
        prob: Probability of jittering a clip at all.

    Modified keys: ``imgs``.
    """

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2,
                 saturation: float = 0.2, hue: float = 0.05, prob: float = 1.0) -> None:
        if not 0 <= hue <= 0.5:
            raise ValueError(f'ClipColorJitter: hue must be in [0, 0.5], got {hue}')
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.prob = prob

    @cache_randomness
    def _sample_params(self) -> Optional[Tuple[float, float, float, float]]:
        if np.random.rand() >= self.prob:
            return None
        return (np.random.uniform(1 - self.brightness, 1 + self.brightness),
                np.random.uniform(1 - self.contrast, 1 + self.contrast),
                np.random.uniform(1 - self.saturation, 1 + self.saturation),
                np.random.uniform(-self.hue, self.hue))

    def transform(self, results: Dict) -> Dict:
        """Jitter; see the class docstring."""
        params = self._sample_params()
        if params is None:
            return results
        brightness, contrast, saturation, hue = params
        num_frames, height = len(results['imgs']), results['imgs'][0].shape[0]
        clip = np.concatenate(results['imgs'])  # (T*H, W, 3): one OpenCV call per step
        # Brightness then contrast about the (brightened) mean grey: one affine map of the
        # values, applied as a lookup table.
        mean = cv2.cvtColor(clip, cv2.COLOR_BGR2GRAY).mean() * brightness
        lut = np.arange(256) * brightness * contrast + mean * (1 - contrast)
        clip = cv2.LUT(clip, np.clip(np.rint(lut), 0, 255).astype(np.uint8))
        if saturation != 1:
            gray = cv2.cvtColor(cv2.cvtColor(clip, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            clip = cv2.addWeighted(clip, saturation, gray, 1 - saturation, 0)
        shift = int(round(hue * 180))  # OpenCV's uint8 hue spans 0..179
        if shift:
            hsv = cv2.cvtColor(clip, cv2.COLOR_BGR2HSV)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
            clip = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        results['imgs'] = list(clip.reshape(num_frames, height, *clip.shape[1:]))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, hue={self.hue}, '
                f'prob={self.prob})')
