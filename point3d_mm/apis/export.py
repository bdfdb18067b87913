"""ONNX export of Point3D in the two parts that streaming inference runs.

* the per-frame part (:class:`FramePart`): preprocessed frames (N, 3, H, W) → the last
  stack's features (N, C, h, w) and the Point Head's raw outputs for those frames;
* the temporal part (:class:`TemporalPart`): the stacked features of one clip (1, T, C, h, w),
  T fixed at export → TWA → 3D Head → class logits of the clip's last (key) frame, or, for
  heads that pool
  RoIs, the 3D Head's feature map (mmcv's RoIAlign has no standard ONNX form, so the RoI
  pooling of detected boxes stays with the runtime).

A runtime keeps the frame part's features of the last (T-1)s+1 frames and stacks every s-th
of them, ending at the key frame (T and s from :func:`point3d_mm.apis.clip_sampling`, as
:func:`point3d_mm.apis.detect_frames` does with ``streaming=True``), decodes the Point Head
outputs of the key frame and scores its boxes with the temporal part's classes. The data
preprocessor (BGR→RGB, mean/std) is not exported.

The exporter is torch's TorchScript-based one (``dynamo=False``), which needs no package
beyond ``onnx``.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

POINT_OUTPUTS = ('center_heatmap', 'wh', 'offset', 'knot_heatmap', 'knot_dist', 'knot_offset')


class FramePart(nn.Module):
    """Backbone + Point Head of a Point3D detector: the work done once per frame.

    Args:
        detector: a Point3D detector (eval mode).
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector
        self.output_names = ['feats'] + list(
            POINT_OUTPUTS if detector.point_head.with_kp else POINT_OUTPUTS[:3])

    def forward(self, frames: Tensor) -> Tuple[Tensor, ...]:
        """Features and Point Head outputs of every frame.

        Args:
            frames (Tensor): (N, 3, H, W) preprocessed frames.

        Returns:
            tuple[Tensor]: feats (N, C, h, w), then the Point Head outputs of
            ``PointHead.forward`` for the last stack: centre heatmap (N, 1, h, w), wh and
            offset (N, 2, h, w) and, with KP, knot heatmaps (N, K, h, w), knot distances
            (N, 2K, h, w) and knot offsets (N, 2, h, w).
        """
        feats = self.detector.extract_frame_feats(frames)[-1]
        outs = tuple(out[0] for out in self.detector.point_head((feats, )) if out[0] is not None)
        return (feats, ) + outs


class TemporalPart(nn.Module):
    """TWA + classification head on the stacked features of a clip.

    Args:
        detector: a Point3D detector (eval mode).
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector
        self.pools_clip = detector.cls_head.pool == 'clip'
        self.output_names = ['logits' if self.pools_clip else 'head_feats']

    def forward(self, frame_feats: Tensor) -> Tensor:
        """Class logits of the key (last) frame, or the head's features for RoI heads.

        Args:
            frame_feats (Tensor): (B, T, C, h, w) features of the frame part (B = 1 in the
            exported graph).

        Returns:
            Tensor: logits (B, K) with ``pool='clip'``; else the head's features
            (B, C', T', h', w').
        """
        head = self.detector.cls_head
        feats = head(self.detector.forward_temporal(frame_feats))
        if not self.pools_clip:
            return feats
        num_clips, clip_len = frame_feats.shape[:2]
        rois = frame_feats.new_zeros(num_clips, 5)
        rois[:, 0] = torch.arange(num_clips, device=frame_feats.device)
        key_frames = torch.full((num_clips, ), clip_len - 1, device=frame_feats.device)
        return head.classify(feats, rois, key_frames, None)


def _export(module: nn.Module, example: Tensor, input_name: str, path: str, opset: int,
            batch_axis: Optional[str] = None) -> None:
    """TorchScript-based ONNX export of a module with one input, the first axis of the
    input and outputs dynamic when ``batch_axis`` names it."""
    names = [input_name] + module.output_names
    torch.onnx.export(
        module, (example, ), path, dynamo=False, opset_version=opset,
        input_names=[input_name], output_names=module.output_names,
        dynamic_axes={name: {0: batch_axis} for name in names} if batch_axis else None)


def export_onnx(detector: nn.Module, out_dir: str, clip_len: int, input_size: int,
                opset: int = 17) -> Dict[str, str]:
    """Write ``frame_part.onnx`` and ``temporal_part.onnx``.

    Args:
        detector: a Point3D detector on CPU.
        out_dir: output folder (created).
        clip_len: T of the temporal part's input (1, T, C, h, w); the frame part takes any
            number of frames.
        input_size: H = W of the network input.
        opset: ONNX opset.

    Returns:
        dict: ``frame_part`` and ``temporal_part`` file paths.
    """
    detector = detector.eval()
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(frame_part=osp.join(out_dir, 'frame_part.onnx'),
                 temporal_part=osp.join(out_dir, 'temporal_part.onnx'))
    frames, frame_feats = example_inputs(detector, clip_len, input_size)
    with torch.no_grad():
        _export(FramePart(detector), frames, 'frames', paths['frame_part'], opset,
                batch_axis='num_frames')
        # T and the batch stay fixed: the clip pooling's indices are traced as constants.
        _export(TemporalPart(detector), frame_feats, 'frame_feats', paths['temporal_part'],
                opset)
    return paths


def example_inputs(detector: nn.Module, clip_len: int, input_size: int,
                   seed: int = 0) -> Tuple[Tensor, Tensor]:
    """Random inputs of the two parts: frames (T, 3, S, S) and features (1, T, C, S/4, S/4).

    The features are the frame part's own output on the frames, so that they are in the
    range the temporal part sees in use.
    """
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randn(clip_len, 3, input_size, input_size, generator=generator)
    with torch.no_grad():
        feats = detector.extract_frame_feats(frames)[-1]
    return frames, feats[None]


def onnx_parity(detector: nn.Module, paths: Dict[str, str], clip_len: int, input_size: int,
                num_frames: Optional[int] = None, seed: int = 1) -> Dict[str, float]:
    """Largest absolute difference between onnxruntime and PyTorch, per output.

    Args:
        detector: the exported detector.
        paths: the files of :func:`export_onnx`.
        clip_len: T of the test clip (the export's).
        input_size: H = W of the network input.
        num_frames: frames given to the frame part (default T; 1 is what streaming runs).
        seed: seed of the random test input.

    Returns:
        dict: ``{'frame_part/feats': diff, ..., 'temporal_part/logits': diff}``.
    """
    import onnxruntime as ort
    frames, frame_feats = example_inputs(detector.eval(), clip_len, input_size, seed)
    diffs = {}
    for part, module, inputs in (('frame_part', FramePart(detector), frames[:num_frames]),
                                 ('temporal_part', TemporalPart(detector), frame_feats)):
        session = ort.InferenceSession(paths[part], providers=['CPUExecutionProvider'])
        onnx_outs: List[np.ndarray] = session.run(
            None, {session.get_inputs()[0].name: inputs.numpy()})
        with torch.no_grad():
            torch_outs = module(inputs)
        torch_outs = torch_outs if isinstance(torch_outs, tuple) else (torch_outs, )
        for name, onnx_out, torch_out in zip(module.output_names, onnx_outs, torch_outs):
            diffs[f'{part}/{name}'] = float(np.abs(onnx_out - torch_out.numpy()).max())
    return diffs
