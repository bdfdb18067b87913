"""Trimming a linked path in time: a two-state (action / background) Viterbi labelling of
its frames, for many paths at once (pure numpy)."""
from typing import Tuple

import numpy as np


def viterbi_trim(scores: np.ndarray, trim_score: float, switch_penalty: float) -> np.ndarray:
    """Label each frame of a tube as action (True) or background by a 2-state Viterbi pass.

    Maximises ``sum((scores[t] - trim_score) * on[t]) - switch_penalty * (number of t with
    on[t] != on[t - 1])``; either state may start and end the tube for free, so a tube
    whose frames all score above ``trim_score`` is kept whole.

    Args:
        scores: (L,) per-frame detection scores.
        trim_score: Score below which a frame favours the background.
        switch_penalty: Cost of one change of state between consecutive frames.

    Returns:
        (L,) bool, True where the tube is kept.
    """
    gains = np.asarray(scores, dtype=np.float64).reshape(-1) - trim_score
    starts = np.zeros(min(len(gains), 1), dtype=np.int64)
    return trim_paths(gains, starts, np.full(len(starts), len(gains)), trim_score > 0,
                       switch_penalty)


def trim_paths(gains: np.ndarray, starts: np.ndarray, lengths: np.ndarray, enabled: bool,
                switch_penalty: float) -> np.ndarray:
    """:func:`viterbi_trim` of K tubes at once.

    Args:
        gains: (D,) ``score - trim_score`` of the tubes' frames, tube after tube.
        starts: (K,) first index of each tube in ``gains``.
        lengths: (K,) frames of each tube (>= 1).
        enabled: False keeps every frame.
        switch_penalty: As in :func:`viterbi_trim`.

    Returns:
        (D,) bool, True where a tube is kept.
    """
    on = np.ones(len(gains), dtype=bool)
    if not enabled or not len(starts):
        return on
    negative = np.add.reduceat((~(gains >= 0)).astype(np.int64), starts) > 0
    if negative.any():
        _viterbi_paths(gains, starts[negative], lengths[negative], switch_penalty, on)
    return on


def _viterbi_paths(gains: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                   switch_penalty: float, on: np.ndarray) -> None:
    """Write the best labelling of each tube into ``on``, advancing all tubes together.

    Tubes are sorted by decreasing length, so the tubes still running at frame t are a
    prefix. ``off``/``act``: best total of a labelling of frames 0..t that ends in that
    state; ``from_act_to_off``/``from_act_to_act`` (D,): whether that labelling had frame
    t - 1 in the action state.
    """
    by_length = np.argsort(-lengths, kind='stable')
    starts, lengths = starts[by_length], lengths[by_length]
    running = np.searchsorted(-lengths, -np.arange(int(lengths[0]) + 1), side='left')
    from_act_to_off = np.zeros(len(gains), dtype=bool)
    from_act_to_act = np.zeros(len(gains), dtype=bool)
    off, act = np.zeros(len(starts)), gains[starts]
    final = np.zeros(len(starts), dtype=bool)
    final[running[1]:] = act[running[1]:] >= off[running[1]:]
    for t in range(1, len(running) - 1):
        k = running[t]
        frames = starts[:k] + t
        o, a = off[:k], act[:k]
        from_act_to_off[frames] = a - switch_penalty > o
        from_act_to_act[frames] = a >= o - switch_penalty
        off[:k], act[:k] = (np.maximum(o, a - switch_penalty),
                            np.maximum(a, o - switch_penalty) + gains[frames])
        ending = slice(running[t + 1], k)
        final[ending] = act[ending] >= off[ending]
    state = final
    for t in range(len(running) - 2, -1, -1):
        k = running[t]
        frames = starts[:k] + t
        on[frames] = state[:k]
        state[:k] = np.where(state[:k], from_act_to_act[frames], from_act_to_off[frames])


def action_runs(on: np.ndarray, starts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(R,) start and stop of every run of True in ``on`` (D,) that stays within one of
    the tubes starting at ``starts``."""
    new_tube = np.zeros(len(on) + 1, dtype=bool)
    new_tube[starts] = True
    new_tube[-1] = True
    begins = on & (new_tube[:-1] | ~np.concatenate(([False], on[:-1])))
    ends = on & (new_tube[1:] | ~np.concatenate((on[1:], [False])))
    return np.flatnonzero(begins), np.flatnonzero(ends) + 1
