"""The Point Head's centre heatmap of a frame, laid over the frame (``--show-heatmap``)."""
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .inference import ClipPreparer


@torch.no_grad()
def center_heatmap(model: nn.Module, frame: np.ndarray) -> np.ndarray:
    """The Point Head's centre heatmap of one frame, in the frame's own pixels.

    The frame goes through the test pipeline alone (the heatmap is per frame: it does not
    depend on the clip), then the backbone and the Point Head; the last stack's heatmap (at
    the feature stride) is upsampled to the network input, the letterbox pad is cut away and
    the rest resized to the frame, so that it lies over the frame where the model looked.

    Args:
        model: a Point3D detector from :func:`init_detector`.
        frame: (H, W, 3) BGR uint8 frame.

    Returns:
        (H, W) float32 centre probabilities in [0, 1]; the maximum over classes when the
        head has several heatmap channels (the Point Head's is class-agnostic: one).
    """
    inputs, samples = ClipPreparer(model, 'heatmap')([frame], [1])
    feats = model.extract_frame_feats(inputs)[-1]  # (1, C, h, w): one frame
    heat = model.point_head((feats, ))[0][-1]  # centre heatmaps (N, K, h, w) of the last stack
    heat = heat.amax(dim=1, keepdim=True).float()
    # Bilinear to the (batch) input size: the stride-s cells cover the input exactly.
    heat = F.interpolate(heat, size=tuple(inputs.shape[-2:]), mode='bilinear',
                         align_corners=False)[0, 0].cpu().numpy()
    # input = original x scale_factor + pad: the frame's content is the window at `pad` of
    # the original size times scale_factor; outside it lie the letterbox and batch pads.
    meta = samples[0].metainfo
    height, width = frame.shape[:2]
    sx, sy = meta.get('scale_factor', (1., 1.))
    left, top = meta.get('pad', (0., 0.))
    x0, y0 = int(round(left)), int(round(top))
    x1 = min(heat.shape[1], int(round(left + width * sx)))
    y1 = min(heat.shape[0], int(round(top + height * sy)))
    heat = cv2.resize(np.ascontiguousarray(heat[y0:y1, x0:x1]), (width, height),
                      interpolation=cv2.INTER_LINEAR)
    return np.clip(heat, 0., 1.).astype(np.float32)
