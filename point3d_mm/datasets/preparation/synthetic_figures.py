"""The stick figures of the synthetic actions: the pose library, the figure's points, drawing.

A figure is drawn from its state (:func:`~.synthetic_motion.actor_state`): pose phase, tilt,
pelvis position, height, colour and line thickness.
"""
import math
from typing import Dict, Tuple

import cv2
import numpy as np

# Stick-figure proportions in units of the actor height h; y points down from the pelvis.
_TORSO, _HEAD_R, _UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.36, 0.08, 0.17, 0.15, 0.23, 0.23
#: Bones as (start, end) indices of the points of :func:`stick_figure`.
BONES = ((0, 1), (1, 3), (3, 5), (1, 4), (4, 6), (0, 7), (7, 9), (0, 8), (8, 10))
#: Names of the points of :func:`stick_figure`, the joints written as knots. "Left" is the
#: figure's side drawn at smaller x (before tilting).
JOINT_NAMES = ('pelvis', 'neck', 'head', 'left_elbow', 'right_elbow', 'left_hand',
               'right_hand', 'left_knee', 'right_knee', 'left_foot', 'right_foot')
#: Joint order after a horizontal flip: left and right swap.
JOINT_FLIP_INDICES = (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9)


def figure_reach(height: float) -> Tuple[float, float]:
    """How far a figure of height h reaches above its pelvis (the top of its head, upright)
    and below it (its feet, legs straight), in pixels."""
    return (_TORSO + 2 * _HEAD_R + 0.02) * height, (_THIGH + _SHIN) * height


def pose_angles(phase: np.ndarray) -> np.ndarray:
    """The pose library: joint angles at pose phases in [0, 1).

    Angles (radians) are measured from straight down, positive outwards from the midline.
    The joints have different phase offsets and a second harmonic, so the limbs do not
    move in lockstep.

    Args:
        phase: (...) phases.

    Returns:
        (..., 8) angles: left/right upper arm, left/right elbow bend, left/right thigh,
        left/right knee bend.
    """
    x = 2 * np.pi * np.asarray(phase, np.float64)[..., None]
    offsets = np.array([0.0, 2.1, 1.3, 3.4, 0.7, 3.8, 2.5, 5.6])
    base = np.array([25, 25, 35, 35, 8, 8, 0, 0], np.float64)
    span = np.array([65, 65, 70, 70, 30, 30, 45, 45], np.float64)
    wave = 0.5 + 0.5 * np.sin(x + offsets) + 0.15 * np.sin(2 * x + 2 * offsets + 1.0)
    return np.radians(base + span * np.clip(wave, 0, 1))


def stick_figure(phase: float, tilt: float, height: float) -> np.ndarray:
    """Points of the stick figure relative to its pelvis.

    Args:
        phase: Pose phase in [0, 1).
        tilt: Lean (radians), a rotation about the pelvis.
        height: Actor height h in pixels.

    Returns:
        (11, 2) points (x, y) in pixels: pelvis, neck, head centre, left/right elbow,
        left/right hand, left/right knee, left/right foot (bones: :data:`BONES`).
    """
    arm_l, arm_r, elbow_l, elbow_r, thigh_l, thigh_r, knee_l, knee_r = pose_angles(phase)

    def limb(start: np.ndarray, angle: float, side: int, length: float) -> np.ndarray:
        return start + length * np.array([side * math.sin(angle), math.cos(angle)])

    pelvis, neck = np.zeros(2), np.array([0., -_TORSO])
    head = np.array([0., -_TORSO - _HEAD_R - 0.02])
    elbows = limb(neck, arm_l, -1, _UPPER_ARM), limb(neck, arm_r, 1, _UPPER_ARM)
    hands = (limb(elbows[0], arm_l + elbow_l, -1, _FOREARM),
             limb(elbows[1], arm_r + elbow_r, 1, _FOREARM))
    knees = limb(pelvis, thigh_l, -1, _THIGH), limb(pelvis, thigh_r, 1, _THIGH)
    # A bent knee turns the shin back towards the midline.
    feet = (limb(knees[0], thigh_l - knee_l, -1, _SHIN),
            limb(knees[1], thigh_r - knee_r, 1, _SHIN))
    points = np.stack([pelvis, neck, head, *elbows, *hands, *knees, *feet]) * height
    c, s = math.cos(tilt), math.sin(tilt)
    return points @ np.array([[c, s], [-s, c]])


def draw_actor(img: np.ndarray, state: Dict, offset: Tuple[float, float]) -> np.ndarray:
    """Draw an actor in ``img`` (in place) and return its box.

    Args:
        img: (H, W, 3) uint8 BGR frame.
        state: The actor's state (:func:`~.synthetic_motion.actor_state`).
        offset: World-to-image translation (x, y) subtracted from the state's position.

    Returns:
        (4,) float box x1 y1 x2 y2 of the drawn figure in image pixels, not clipped.
    """
    points = actor_joints(state, offset)
    fixed = np.round(points * 16).astype(np.int64)  # 4 fractional bits: sub-pixel motion
    thickness, color = state['thickness'], state['color']
    for i, j in BONES:
        cv2.line(img, tuple(map(int, fixed[i])), tuple(map(int, fixed[j])), color, thickness,
                 cv2.LINE_AA, 4)
    radius = _HEAD_R * state['height']
    cv2.circle(img, tuple(map(int, fixed[2])), int(round(radius * 16)), color, -1,
               cv2.LINE_AA, 4)
    body = np.delete(points, 2, axis=0)
    half = thickness / 2
    return np.array([
        min(body[:, 0].min() - half, points[2, 0] - radius),
        min(body[:, 1].min() - half, points[2, 1] - radius),
        max(body[:, 0].max() + half, points[2, 0] + radius),
        max(body[:, 1].max() + half, points[2, 1] + radius)])


def actor_joints(state: Dict, offset: Tuple[float, float]) -> np.ndarray:
    """(11, 2) image positions (x, y) of an actor's joints (:data:`JOINT_NAMES`), the
    points :func:`draw_actor` draws, in the pixel coordinates of its boxes."""
    points = stick_figure(state['phase'], state['tilt'], state['height'])
    return points + np.array([state['x'] - offset[0], state['y'] - offset[1]])
