"""Planning the synthetic actions: the classes, how each drives an actor's state over time, and
everything else a video draws (its length, actors, camera, background, clutter).

Every actor is drawn from a per-frame *state* — pose phase, tilt, bounce, position, size,
colour — by one renderer that never sees the class (:func:`actor_state`). The classes change
only how the state evolves over time, and every state variable has the same single-frame
distribution in every class:

* pose: all actors cycle through one pose library (a closed loop of joint angles,
  :func:`~.synthetic_figures.pose_angles`) from a uniform random phase;
* tilt ``A sin(a0 + w t)``, bounce ``H |sin(b0 + v t)|`` and sideways shake
  ``S sin(c0 + u t)`` with uniform random ``a0, b0, c0``: a swaying, jumping or shaking actor
  has ``w``, ``v`` or ``u`` > 0, the others 0 (a static lean, lift or offset with the same
  distribution);
* horizontal position: a walker moves at speed ``s`` through ``xc`` at the middle of its
  window; a standing actor stands where a walker with the same ``xc, s`` would be at a
  uniformly random frame of its window, so positions share one distribution too.

So no single frame can tell the classes apart, while a few frames can
(``tests/datasets/test_synthetic.py`` checks both).
"""
import math
from typing import Dict, Tuple

import cv2
import numpy as np

from .synthetic_figures import figure_reach

#: Action classes.
CLASSES = ('walk_left', 'walk_right', 'jump', 'march', 'shake', 'sway')
# How each class drives the state: walking direction (-1 left, +1 right, 0 standing) and
# which of bounce, shake and tilt oscillate; every actor runs through the pose loop.
# (A seventh class, the pose loop played backwards, was dropped: its only cue, the order of
# limb poses, stayed at chance for the tiny CPU model of the demo.)
_MOTIONS = {
    'walk_left': dict(walk=-1, jump=False, shake=False, sway=False),
    'walk_right': dict(walk=1, jump=False, shake=False, sway=False),
    'jump': dict(walk=0, jump=True, shake=False, sway=False),
    'march': dict(walk=0, jump=False, shake=False, sway=False),
    'shake': dict(walk=0, jump=False, shake=True, sway=False),
    'sway': dict(walk=0, jump=False, shake=False, sway=True),
}
# Motion amplitudes: large enough for the demo's tiny CPU model to see in a clip of T = 8
# frames at stride 2. With a shake of 0.1 h, tilts of 20 degrees and twice the clutter, after
# 600 iterations it gave fewer than 5% of the held-out jump and sway actors their class;
# docs/datasets.md has the measured effect of each setting.
_TILT_AMPLITUDE = math.radians(30)
_BOUNCE_FRACTION = 0.3  # bounce height / actor height
_SHAKE_FRACTION = 0.2  # sideways shake amplitude / actor height
# Clutter per video, inclusive (low, high) counts: background shapes, moving distractor discs
# and foreground occluders.
_BACKGROUND_SHAPES, _DISTRACTORS, _OCCLUDERS = (4, 10), (1, 3), (0, 1)


def plan_video(rng: np.random.Generator, action: str, size: int, margin: int,
               min_frames: int, max_frames: int, max_actors: int) -> Dict:
    """Draw everything about a video of class ``action`` but its class and pixel noise.

    Args:
        rng: The video's planning stream.
        action: A name of :data:`CLASSES`.
        size: Frame width and height in pixels.
        margin: Camera travel: the background canvas is ``size + 2 * margin`` wide.
        min_frames, max_frames: Bounds of the video's length (inclusive).
        max_actors: Actors are drawn from 1..max_actors.

    Returns:
        ``nframes``, ``actors`` (per-actor parameters for :func:`actor_state`),
        ``camera`` ((nframes, 2) offsets), ``background`` (the canvas the camera moves over),
        ``distractors`` and ``occluders``.
    """
    motion = _MOTIONS[action]
    nframes = int(rng.integers(min_frames, max_frames + 1))
    canvas = size + 2 * margin
    actors = [_plan_actor(rng, motion, nframes, size)
              for _ in range(int(rng.integers(1, max_actors + 1)))]
    t = np.arange(nframes)[:, None]
    amplitude = rng.uniform(0.1, 0.3, 2) * margin
    period, phase = rng.uniform(60, 160, 2), rng.uniform(0, 2 * np.pi, 2)
    camera = amplitude * np.sin(2 * np.pi * t / period + phase) + rng.normal(
        0, 0.5, (nframes, 2))
    return dict(nframes=nframes, actors=actors, camera=camera,
                background=_plan_background(rng, canvas),
                distractors=[dict(p0=rng.uniform(0, canvas, 2), v=rng.uniform(-1.5, 1.5, 2),
                                  radius=int(rng.integers(3, max(4, canvas // 10))),
                                  color=_color(rng))
                             for _ in range(_count(rng, _DISTRACTORS))],
                occluders=[_plan_occluder(rng, size) for _ in range(_count(rng, _OCCLUDERS))])


def _plan_actor(rng: np.random.Generator, motion: Dict, nframes: int, size: int) -> Dict:
    height = rng.uniform(0.3, 0.5) * size
    speed = rng.uniform(0.8, 1.4) * size / 128
    direction = motion['walk'] or int(rng.choice([-1, 1]))
    if rng.random() < 0.4:
        start, end = 0, nframes - 1
    else:
        length = int(rng.integers(min(24, nframes), nframes + 1))
        start = int(rng.integers(0, nframes - length + 1))
        end = start + length - 1
    bounce = _BOUNCE_FRACTION * height
    above, below = figure_reach(height)
    top = above + bounce + 2
    bottom = size - below - 2
    return dict(
        start=start, end=end, height=height,
        # Centred in the frame: tubes still start and end mid-video, with fewer actors
        # crossing the border, where a partly visible, unannotated actor is ambiguous.
        xc=rng.uniform(0.15, 0.85) * size, velocity=speed * direction,
        centre_t=(start + end) / 2,
        # A standing actor stands where a walker would be at a random frame of the window.
        still_t=None if motion['walk'] else float(rng.uniform(start, end)),
        y=rng.uniform(top, max(top, bottom)),
        # A limb loop of 16-24 frames (a walking gait at 25 fps), so that the limbs, which
        # move in every class, move less than the oscillations that tell classes apart.
        phase0=rng.uniform(), pose_rate=1 / rng.uniform(16, 24),
        tilt0=rng.uniform(0, 2 * np.pi),
        tilt_rate=2 * np.pi / rng.uniform(8, 14) if motion['sway'] else 0.,
        bounce0=rng.uniform(0, np.pi), bounce=bounce,
        bounce_rate=np.pi / rng.uniform(8, 12) if motion['jump'] else 0.,
        shake0=rng.uniform(0, 2 * np.pi), shake=_SHAKE_FRACTION * height,
        shake_rate=2 * np.pi / rng.uniform(8, 12) if motion['shake'] else 0.,
        color=_color(rng, low=40), thickness=max(1, int(round(height / 18))))


def _plan_background(rng: np.random.Generator, canvas: int) -> np.ndarray:
    top, bottom = rng.integers(30, 200, 3), rng.integers(30, 200, 3)
    ramp = np.linspace(0, 1, canvas)[:, None, None]
    img = np.repeat(top * (1 - ramp) + bottom * ramp, canvas, axis=1).astype(np.uint8)
    for _ in range(_count(rng, _BACKGROUND_SHAPES)):
        kind = int(rng.integers(3))
        p = tuple(int(v) for v in rng.integers(0, canvas, 2))
        if kind == 0:
            q = tuple(int(v) for v in np.add(p, rng.integers(4, canvas // 3, 2)))
            cv2.rectangle(img, p, q, _color(rng), -1)
        elif kind == 1:
            cv2.circle(img, p, int(rng.integers(3, canvas // 8)), _color(rng), -1)
        else:  # limb-like segments, so that thin lines alone do not mean "actor"
            q = tuple(int(v) for v in np.add(p, rng.integers(-canvas // 4, canvas // 4, 2)))
            cv2.line(img, p, q, _color(rng), int(rng.integers(1, 4)))
    return cv2.GaussianBlur(img, (3, 3), 0)


def _plan_occluder(rng: np.random.Generator, size: int) -> Dict:
    w, h = rng.uniform(0.06, 0.15) * size, rng.uniform(0.3, 1.0) * size
    return dict(x0=rng.uniform(-0.1, 1.0) * size, y=rng.uniform(0, size - h), w=w, h=h,
                v=rng.uniform(-0.6, 0.6), color=_color(rng))


def actor_state(actor: Dict, t: int) -> Dict:
    """The class-free state that the renderer draws an actor from at frame ``t``.

    Args:
        actor: One entry of ``plan_video(...)['actors']``.
        t: 0-based frame index.

    Returns:
        ``phase`` (pose phase in [0, 1)), ``tilt`` (radians), ``x``, ``y`` (pelvis in
        world pixels, bounce and shake included), ``height``, ``color``, ``thickness``.
    """
    walk_t = t if actor['still_t'] is None else actor['still_t']
    return dict(
        phase=(actor['phase0'] + actor['pose_rate'] * t) % 1.0,
        tilt=_TILT_AMPLITUDE * math.sin(actor['tilt0'] + actor['tilt_rate'] * t),
        x=actor['xc'] + actor['velocity'] * (walk_t - actor['centre_t']) +
        actor['shake'] * math.sin(actor['shake0'] + actor['shake_rate'] * t),
        y=actor['y'] - actor['bounce'] * abs(math.sin(actor['bounce0'] +
                                                      actor['bounce_rate'] * t)),
        height=actor['height'], color=actor['color'], thickness=actor['thickness'])


def _count(rng: np.random.Generator, bounds: Tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _color(rng: np.random.Generator, low: int = 0) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(low, 256, 3))
