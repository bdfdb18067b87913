"""Statistics of the Time-wise Attention matrix M of a model on real frames
(``tools/analysis/inspect_twa.py``).

The model's feature extractor runs on the frames of a video; the features of consecutive
clips of T frames are stacked, and per clip M's off-diagonal mass (mean over rows i of
1 - M_ii: 0 when every frame attends only to itself, 1 - 1/T when uniform) and row entropy
(nats; 0 for one-hot rows, log T when uniform) are reported, for the model's own TWA and for
the other scalings on the same features.
"""
import math
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..apis.inference import ClipPreparer
from ..models.necks.time_wise_attention import attention_matrix
from ..utils.video import iter_numbered_frames

#: Scalings reported besides the model's own: (name, scale, temperature).
VARIANTS = (('sqrt_d', 'sqrt_d', None), ('raw_gram', None, None),
            ('l2_temperature(tau=1)', 'l2_temperature', 1.0))


def attention_stats(attention: torch.Tensor) -> Dict[str, float]:
    """Off-diagonal mass and row entropy of one (T, T) attention matrix."""
    m = attention.double()
    num_frames = m.shape[-1]
    entropy = -(m * m.clamp_min(1e-300).log()).sum(-1).mean().item()
    return dict(off_diagonal=(1 - m.diagonal()).mean().item(), row_entropy=entropy,
                row_entropy_norm=entropy / math.log(num_frames) if num_frames > 1 else 0.0)


def summarize(per_clip: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """Mean and min over clips of every statistic."""
    return {f'{agg}_{key}': fn(c[key] for c in per_clip)
            for key in per_clip[0] for agg, fn in (('mean', lambda v: sum(v) / len(per_clip)),
                                                   ('min', min))}


def clip_frame_numbers(num_clips: int, clip_len: int, interval: int) -> List[List[int]]:
    """1-based frame numbers of ``num_clips`` consecutive, non-overlapping clips."""
    span = clip_len * interval
    return [[k * span + 1 + t * interval for t in range(clip_len)] for k in range(num_clips)]


@torch.no_grad()
def frame_features(model, frames: Dict[int, np.ndarray],
                   video_name: str) -> Dict[int, torch.Tensor]:
    """The last stack's (C, h, w) features of each frame, one frame at a time (the
    backbone is per frame, so this is what a clip's forward sees, with less memory)."""
    prepare = ClipPreparer(model, video_name)
    feats = {}
    for number, frame in frames.items():
        inputs, _ = prepare.frames([frame], [number])
        feats[number] = model.extract_frame_feats(inputs)[-1][0]
    return feats


def model_scale(model):
    """(name, scale, temperature) of the model's own TWA."""
    neck = getattr(model, 'neck', None)
    if neck is None:  # what TimeWiseAttention's default would compute
        return 'model (no neck; raw_gram)', None, None
    temperature = neck.temperature() if hasattr(neck, 'temperature') else None
    label = 'raw_gram' if neck.scale is None else neck.scale
    return f'model ({label})', neck.scale, temperature


@torch.no_grad()
def inspect(model, video, num_clips: int = 2, clip_len: Optional[int] = None,
            interval: Optional[int] = None) -> Dict:
    """Per-clip and summary statistics of M for the model's TWA and :data:`VARIANTS`."""
    dataset = model.cfg.test_dataloader.dataset
    clip_len = clip_len or dataset.get('clip_len', 16)
    interval = interval or dataset.get('frame_interval', 1)
    wanted = clip_frame_numbers(num_clips, clip_len, interval)
    needed = {n for clip in wanted for n in clip}
    frames = {}
    for number, frame in iter_numbered_frames(video):
        if number in needed:
            frames[number] = frame
        if number >= max(needed):
            break
    wanted = [clip for clip in wanted if all(n in frames for n in clip)]
    if not wanted:
        raise ValueError(f'{video}: fewer than {clip_len * interval} frames, not one clip')
    name = osp.splitext(osp.basename(str(video).rstrip('/')))[0]
    start = time.perf_counter()
    feats = frame_features(model, frames, name)
    seconds = time.perf_counter() - start
    variants = [model_scale(model), *VARIANTS]
    result = dict(video=str(video), clip_len=clip_len, frame_interval=interval,
                  feature_shape=list(next(iter(feats.values())).shape),
                  seconds_per_frame=seconds / len(frames), variants={})
    for label, scale, temperature in variants:
        per_clip = []
        for clip in wanted:
            stacked = torch.stack([feats[n] for n in clip])[None]  # (1, T, C, h, w)
            m = attention_matrix(stacked, scale, temperature)[0]
            per_clip.append(dict(first_frame=clip[0], **attention_stats(m)))
        stats = [{k: v for k, v in c.items() if k != 'first_frame'} for c in per_clip]
        result['variants'][label] = dict(per_clip=per_clip, summary=summarize(stats))
    return result


def format_table(result: Dict) -> str:
    """Markdown: one row per (variant, clip) and the mean/min rows."""
    lines = [f"T = {result['clip_len']}, interval {result['frame_interval']}, features "
             f"{tuple(result['feature_shape'])}, log T = {math.log(result['clip_len']):.3f}",
             '', '| TWA | clip (first frame) | off-diagonal mass | row entropy (nats) | '
             'entropy / log T |', '| --- | --- | --- | --- | --- |']
    for label, data in result['variants'].items():
        for c in data['per_clip']:
            lines.append(f"| {label} | {c['first_frame']} | {c['off_diagonal']:.4f} | "
                         f"{c['row_entropy']:.4f} | {c['row_entropy_norm']:.4f} |")
        s = data['summary']
        for agg in ('mean', 'min'):
            lines.append(f"| {label} | {agg} | {s[agg + '_off_diagonal']:.4f} | "
                         f"{s[agg + '_row_entropy']:.4f} | {s[agg + '_row_entropy_norm']:.4f} |")
    return '\n'.join(lines)
