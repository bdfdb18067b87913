"""Grouping of ground-truth rows into actors.

``gt_instances`` has one row per (frame, actor) box (docs/interfaces.md). A multi-label
dataset (AVA) may repeat a box once per label; both heads need each actor once: the Point
Head to draw one Gaussian and count one actor, the RoI classifier to build one multi-hot
target.
"""
from typing import Tuple

import torch
from torch import Tensor


def group_actor_rows(frame_inds: Tensor, track_ids: Tensor) -> Tuple[Tensor, Tensor]:
    """Group rows that describe the same actor in the same frame.

    Args:
        frame_inds (Tensor): (N,) frame index of each row.
        track_ids (Tensor): (N,) actor index of each row.

    Returns:
        tuple[Tensor, Tensor]: ``first_rows`` (A,), the first row of each of the A actors
        (in order of first appearance), and ``row_actor`` (N,), the actor of each row.
    """
    num_rows = len(frame_inds)
    if num_rows == 0:
        empty = frame_inds.new_zeros(0, dtype=torch.long)
        return empty, empty
    keys = torch.stack([frame_inds.long(), track_ids.long()], dim=1)
    _, row_group = torch.unique(keys, dim=0, return_inverse=True)
    rows = torch.arange(num_rows, device=frame_inds.device)
    first_rows = rows.new_full((int(row_group.max()) + 1, ), num_rows)
    first_rows.scatter_reduce_(0, row_group, rows, 'amin')
    # Renumber the actors by first appearance so that ``first_rows`` keeps the row order.
    order = first_rows.argsort()
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=order.device)
    return first_rows[order], rank[row_group]
