"""Synthetic actions: stick figures whose classes differ only in motion.

Every actor is drawn from a per-frame *state* — pose phase, tilt, bounce, position, size,
colour — by one renderer that never sees the class (:meth:`SyntheticActions.actor_state`).
The classes change only how the state evolves over time, and every state variable has the
same single-frame distribution in every class:

* pose: all actors cycle through one pose library (a closed loop of joint angles,
  :func:`pose_angles`) from a uniform random phase;
* tilt ``A sin(a0 + w t)``, bounce ``H |sin(b0 + v t)|`` and sideways shake
  ``S sin(c0 + u t)`` with uniform random ``a0, b0, c0``: a swaying, jumping or shaking actor
  has ``w``, ``v`` or ``u`` > 0, the others 0 (a static lean, lift or offset with the same
  distribution);
* horizontal position: a walker moves at speed ``s`` through ``xc`` at the middle of its
  window; a standing actor stands where a walker with the same ``xc, s`` would be at a
  uniformly random frame of its window, so positions share one distribution too.

So no single frame can tell the classes apart, while a few frames can
(``tests/datasets/test_synthetic.py`` checks both). All actors of a video share its class (as
in UCF101-24), actors enter and leave (tubes start and end mid-video), the background is
cluttered and moves (camera pan and jitter, moving distractor shapes, limb-like clutter), and
foreground occluders pass in front of the actors.

:meth:`SyntheticActions.generate` writes an ACT-format dataset (``synthetic_gt.pkl`` +
``frames/<video>/%05d.jpg``), the actors' joints (``synthetic_joints.pkl``, the points the
stick figures are drawn from, usable as knots: ``ACTDataset(knots='joints', joints_file=...)``)
and the same videos in mmaction2's AVA layout (``ava/``), fully determined by the seed
(byte-identical on re-run; the joints draw no random numbers, so the frames and ground truth
are what they were before the joints were written).
"""
import math
import os
import os.path as osp
import pickle
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from ...structures.act_format import dump_act
from ...utils.fileio import atomic_write

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
#: The AVA layout's extra label, so that actors are multi-label as in AVA: the actor's box is
#: at least :data:`OCCLUDED_FRACTION` hidden by a foreground occluder at the key frame.
AVA_OCCLUDED = 'occluded'
OCCLUDED_FRACTION = 0.3

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
_MIN_VISIBLE = 0.3  # fraction of the box inside the frame for the actor to be annotated
_MAX_GAP, _MIN_RUN = 8, 4  # frames: tubes do not flicker at the border (_stable_runs)
_JPEG_QUALITY = 90


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
        state: The actor's state (:meth:`SyntheticActions.actor_state`).
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


def _covered_fraction(box: np.ndarray, rects: Sequence[Tuple[float, ...]]) -> float:
    """Fraction of ``box`` covered by the union of ``rects`` (all x1 y1 x2 y2), exactly.

    The box is cut into the cells of the grid of all rectangle edges inside it; a cell is
    covered or not as a whole.
    """
    x1, y1, x2, y2 = box
    area = (x2 - x1) * (y2 - y1)
    if area <= 0 or not rects:
        return 0.
    rects = np.asarray(rects, np.float64)
    xs = np.unique(np.clip(np.concatenate([[x1, x2], rects[:, 0], rects[:, 2]]), x1, x2))
    ys = np.unique(np.clip(np.concatenate([[y1, y2], rects[:, 1], rects[:, 3]]), y1, y2))
    cx, cy = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
    covered = np.zeros((len(cy), len(cx)), bool)
    for rx1, ry1, rx2, ry2 in rects:
        covered |= ((cy > ry1) & (cy < ry2))[:, None] & ((cx > rx1) & (cx < rx2))[None]
    cell_area = np.diff(ys)[:, None] * np.diff(xs)[None]
    return float((cell_area * covered).sum() / area)


def _area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def _stable_runs(inside: np.ndarray) -> List[Tuple[int, int]]:
    """Frame spans (first, last; 0-based) where an actor is annotated.

    An actor is annotated where at least :data:`_MIN_VISIBLE` of its box is in view. Camera
    jitter makes that flicker at the frame border, so gaps of up to :data:`_MAX_GAP` frames
    where the actor is still partly in view are closed, and then runs shorter than
    :data:`_MIN_RUN` frames are dropped: tubes do not break up into fragments.
    """
    visible = inside >= _MIN_VISIBLE
    runs = _runs(visible)
    for (_, end), (start, _) in zip(runs[:-1], runs[1:]):
        if start - end - 1 <= _MAX_GAP and (inside[end + 1:start] > 0).all():
            visible[end + 1:start] = True
    return [(first, last) for first, last in _runs(visible) if last - first + 1 >= _MIN_RUN]


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
    """(first, last) index pairs of the runs of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), (np.nonzero(edges == -1)[0] - 1).tolist()))


class SyntheticActions:
    """Generate a synthetic action-detection dataset from a seed.

    Args:
        seed: The seed; the output is a function of it and the arguments below only.
        num_train: Train videos.
        num_test: Test videos.
        size: Frame width and height in pixels.
        min_frames: Shortest video.
        max_frames: Longest video.
        max_actors: Actors per video are drawn from 1..max_actors.
        classes: Action classes, a subset of :data:`CLASSES`; video ``i`` of each split has
            class ``i % len(classes)``.
        ava_fps: Frames per "second" of the AVA layout: one key frame every ``ava_fps``
            frames (AVA annotates at 1 fps).
        ava_clip_len: clip_len of the AVA pipeline's ``SampleAVAFrames``.
        ava_frame_interval: Its frame_interval. Key frames whose clip (with training's
            random offsets) would reach outside the video are not listed, since
            ``SampleAVAFrames`` does not clamp at a video's ends.
    """

    def __init__(self, seed: int = 0, num_train: int = 40, num_test: int = 10,
                 size: int = 128, min_frames: int = 32, max_frames: int = 96,
                 max_actors: int = 3, classes: Sequence[str] = CLASSES, ava_fps: int = 8,
                 ava_clip_len: int = 8, ava_frame_interval: int = 2) -> None:
        unknown = sorted(set(classes) - set(CLASSES))
        if unknown:
            raise ValueError(f'unknown synthetic classes {unknown}; known: {CLASSES}')
        if not 1 <= min_frames <= max_frames:
            raise ValueError('need 1 <= min_frames <= max_frames, got '
                             f'{min_frames}, {max_frames}')
        if max_actors < 1:
            raise ValueError(f'max_actors must be >= 1, got {max_actors}')
        self.seed = seed
        self.num_train = num_train
        self.num_test = num_test
        self.size = size
        self.margin = size // 8  # camera travel: the background canvas is larger than a frame
        self.min_frames = min_frames
        self.max_frames = max_frames
        self.max_actors = max_actors
        self.classes = tuple(classes)
        self.ava_fps = ava_fps
        self.ava_clip_len = ava_clip_len
        self.ava_frame_interval = ava_frame_interval

    def video_names(self) -> Tuple[List[str], List[str]]:
        """Names of the train and the test videos."""
        return ([f'train_{i:04d}' for i in range(self.num_train)],
                [f'test_{i:04d}' for i in range(self.num_test)])

    def _rng(self, video: str, stream: int) -> np.random.Generator:
        # Independent streams per video and purpose: a video does not change when the number
        # of videos changes, and the pixel noise does not shift the plan's draws.
        split, index = video.split('_')
        return np.random.default_rng([self.seed, int(split == 'test'), int(index), stream])

    # ------------------------------------------------------------------ planning
    def plan_video(self, video: str) -> Dict:
        """Draw everything about a video but the pixel noise.

        Args:
            video: A name from :meth:`video_names`.

        Returns:
            ``label``, ``nframes``, ``actors`` (per-actor parameters for
            :meth:`actor_state`), ``background`` (the canvas the camera moves over),
            ``distractors``, ``occluders`` and ``camera`` ((nframes, 2) offsets).
        """
        rng = self._rng(video, 0)
        label = int(video.split('_')[1]) % len(self.classes)
        motion = _MOTIONS[self.classes[label]]
        nframes = int(rng.integers(self.min_frames, self.max_frames + 1))
        canvas = self.size + 2 * self.margin
        actors = [self._plan_actor(rng, motion, nframes)
                  for _ in range(int(rng.integers(1, self.max_actors + 1)))]
        t = np.arange(nframes)[:, None]
        amplitude = rng.uniform(0.1, 0.3, 2) * self.margin
        period, phase = rng.uniform(60, 160, 2), rng.uniform(0, 2 * np.pi, 2)
        camera = amplitude * np.sin(2 * np.pi * t / period + phase) + rng.normal(
            0, 0.5, (nframes, 2))
        return dict(label=label, nframes=nframes, actors=actors, camera=camera,
                    background=self._plan_background(rng, canvas),
                    distractors=[dict(p0=rng.uniform(0, canvas, 2), v=rng.uniform(-1.5, 1.5, 2),
                                      radius=int(rng.integers(3, max(4, canvas // 10))),
                                      color=_color(rng))
                                 for _ in range(_count(rng, _DISTRACTORS))],
                    occluders=[self._plan_occluder(rng) for _ in range(_count(rng, _OCCLUDERS))])

    def _plan_actor(self, rng: np.random.Generator, motion: Dict, nframes: int) -> Dict:
        size = self.size
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
        top = (_TORSO + 2 * _HEAD_R + 0.02) * height + bounce + 2
        bottom = size - (_THIGH + _SHIN) * height - 2
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

    @staticmethod
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

    def _plan_occluder(self, rng: np.random.Generator) -> Dict:
        size = self.size
        w, h = rng.uniform(0.06, 0.15) * size, rng.uniform(0.3, 1.0) * size
        return dict(x0=rng.uniform(-0.1, 1.0) * size, y=rng.uniform(0, size - h), w=w, h=h,
                    v=rng.uniform(-0.6, 0.6), color=_color(rng))

    # ------------------------------------------------------------------ state and rendering
    @staticmethod
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

    def render_video(self, video: str) -> Tuple[List[np.ndarray], Dict]:
        """Render a video and its annotation.

        Args:
            video: A name from :meth:`video_names`.

        Returns:
            The frames (list of (size, size, 3) uint8 BGR) and a dict with ``label``,
            ``nframes``, ``tubes`` (list of (L, 5) float32 arrays of frame (1-based), x1, y1,
            x2, y2, one per contiguous visible span of an actor), ``occluded`` (set of (tube
            index, frame) where the box is >= :data:`OCCLUDED_FRACTION` hidden by an
            occluder), ``ambiguous`` (set of frames where an actor is partly in view but
            too little to be annotated) and ``joints`` (one (L, 11, 3) float32 array per
            tube: x, y and visible (1 inside the frame, else 0) of :data:`JOINT_NAMES`).
        """
        plan = self.plan_video(video)
        noise_rng = self._rng(video, 1)
        size, margin, n = self.size, self.margin, plan['nframes']
        # Per actor and frame: fraction of the box inside the frame, clipped box, occluded.
        inside = np.zeros((len(plan['actors']), n))
        boxes = np.zeros((len(plan['actors']), n, 4))
        occluded = np.zeros((len(plan['actors']), n), bool)
        joints = np.zeros((len(plan['actors']), n, len(JOINT_NAMES), 2))
        frames = []
        for t in range(n):
            ox, oy = np.clip(np.round(margin + plan['camera'][t]), 0, 2 * margin).astype(int)
            img = plan['background'][oy:oy + size, ox:ox + size].copy()
            for d in plan['distractors']:
                p = (d['p0'] + d['v'] * t) % (size + 2 * margin) - (ox, oy)
                cv2.circle(img, tuple(int(v) for v in np.round(p * 16)), d['radius'] * 16,
                           d['color'], -1, cv2.LINE_AA, 4)
            occluders = [(o['x0'] + o['v'] * t, o['y'], o['x0'] + o['v'] * t + o['w'],
                          o['y'] + o['h']) for o in plan['occluders']]
            for a, actor in enumerate(plan['actors']):
                if not actor['start'] <= t <= actor['end']:
                    continue
                state = self.actor_state(actor, t)
                box = draw_actor(img, state, (ox - margin, oy - margin))
                joints[a, t] = actor_joints(state, (ox - margin, oy - margin))
                boxes[a, t] = np.clip(box, 0, size - 1)
                inside[a, t] = (_area(boxes[a, t]) / _area(box))
                occluded[a, t] = _covered_fraction(boxes[a, t], occluders) >= OCCLUDED_FRACTION
            for (x1, y1, x2, y2), occluder in zip(occluders, plan['occluders']):
                cv2.rectangle(img, (int(round(x1)), int(round(y1))),
                              (int(round(x2)), int(round(y2))), occluder['color'], -1)
            noise = noise_rng.normal(0, 3, img.shape)
            frames.append(np.clip(img + noise, 0, 255).astype(np.uint8))

        tubes, tube_joints, occluded_keys, annotated = [], [], set(), np.zeros(n, bool)
        for a in range(len(plan['actors'])):
            for first, last in _stable_runs(inside[a]):
                t = np.arange(first, last + 1)
                occluded_keys.update((len(tubes), int(f) + 1) for f in t[occluded[a, t]])
                tubes.append(np.concatenate([t[:, None] + 1, boxes[a, t]], 1).astype(
                    np.float32))
                xy = joints[a, t]
                visible = ((xy >= 0) & (xy <= size - 1)).all(-1, keepdims=True)
                tube_joints.append(np.concatenate([xy, visible], -1).astype(np.float32))
                annotated[t] = True
        ambiguous = {int(t) + 1 for t in np.nonzero((inside > 0).any(0) & ~annotated)[0]}
        return frames, dict(label=plan['label'], nframes=n, tubes=tubes,
                            occluded=occluded_keys, ambiguous=ambiguous, joints=tube_joints)

    # ------------------------------------------------------------------ writing
    def generate(self, out_dir: str) -> Dict[str, str]:
        """Render every video and write the ACT and AVA layouts under ``out_dir``.

        Layout::

            out_dir/synthetic_gt.pkl                      ACT ground truth (1 split)
            out_dir/synthetic_joints.pkl                  joints as knots: dict(joints=
                                                          {video: {label: [(L, 11, 3) x, y,
                                                          visible per tube of gttubes]}},
                                                          names, flip_indices)
            out_dir/frames/<video>/00001.jpg ...          frames, 1-based
            out_dir/ava/synthetic_{train,val}.csv         AVA annotations (1 key frame per
                                                          ``ava_fps`` frames, timestamps in
                                                          "seconds" from 0)
            out_dir/ava/synthetic_{train,val}_excluded_timestamps.csv
            out_dir/ava/synthetic_dense_proposals_{train,val}.pkl
            out_dir/ava/action_list.txt                   label map (pbtxt), ids from 1

        The AVA files index the same frames (``filename_tmpl='{:05}.jpg'``).

        Args:
            out_dir: Output folder (created).

        Returns:
            Paths of the written annotation files by name: ``act``, ``joints``, ``frames``,
            ``ava_train``, ``ava_val``, ``ava_train_excluded``, ``ava_val_excluded``,
            ``ava_train_proposals``, ``ava_val_proposals``, ``ava_label_map``.
        """
        train, test = self.video_names()
        act = dict(labels=list(self.classes), gttubes={}, nframes={}, resolution={},
                   train_videos=[train], test_videos=[test])
        joints = dict(joints={}, names=list(JOINT_NAMES), flip_indices=list(JOINT_FLIP_INDICES))
        ava = {'train': ([], [], {}), 'val': ([], [], {})}  # rows, excluded, proposals
        for video in train + test:
            frames, ann = self.render_video(video)
            frame_dir = osp.join(out_dir, 'frames', video)
            os.makedirs(frame_dir, exist_ok=True)
            for index, frame in enumerate(frames, 1):
                ok, buffer = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY,
                                                          _JPEG_QUALITY])
                with open(osp.join(frame_dir, f'{index:05d}.jpg'), 'wb') as f:
                    f.write(buffer.tobytes())
            act['gttubes'][video] = {ann['label']: ann['tubes']} if ann['tubes'] else {}
            joints['joints'][video] = {ann['label']: ann['joints']} if ann['tubes'] else {}
            act['nframes'][video] = ann['nframes']
            act['resolution'][video] = (self.size, self.size)
            self._ava_records(video, ann, *ava['train' if video in train else 'val'])

        paths = dict(act=osp.join(out_dir, 'synthetic_gt.pkl'),
                     joints=osp.join(out_dir, 'synthetic_joints.pkl'),
                     frames=osp.join(out_dir, 'frames'),
                     ava_label_map=osp.join(out_dir, 'ava', 'action_list.txt'))
        dump_act(act, paths['act'])
        atomic_write(pickle.dumps(joints, protocol=4), paths['joints'])
        names = [*self.classes, AVA_OCCLUDED]
        _write_text(paths['ava_label_map'], ''.join(
            f'item {{\n  name: "{name}"\n  id: {i}\n}}\n' for i, name in enumerate(names, 1)))
        for split, (rows, excluded, proposals) in ava.items():
            stem = osp.join(out_dir, 'ava', f'synthetic_{split}')
            paths[f'ava_{split}'] = stem + '.csv'
            paths[f'ava_{split}_excluded'] = stem + '_excluded_timestamps.csv'
            paths[f'ava_{split}_proposals'] = osp.join(
                out_dir, 'ava', f'synthetic_dense_proposals_{split}.pkl')
            _write_text(paths[f'ava_{split}'], ''.join(rows))
            _write_text(paths[f'ava_{split}_excluded'], ''.join(excluded))
            atomic_write(pickle.dumps(proposals, protocol=4), paths[f'ava_{split}_proposals'])
        return paths

    def ava_timestamps(self, nframes: int) -> List[int]:
        """AVA key-frame timestamps of a video whose clips fit inside it.

        Timestamp ``s`` is frame ``s * ava_fps`` (1-based file number), which is what
        mmaction2's ``AVADataset(fps=ava_fps, timestamp_start=0, start_index=0)`` and
        ``SampleAVAFrames`` read as the centre of the clip.
        """
        length, interval = self.ava_clip_len, self.ava_frame_interval
        before = (length // 2) * interval + interval // 2
        after = ((length + 1) // 2 - 1) * interval + (interval + 1) // 2 - 1
        return [s for s in range(1, nframes // self.ava_fps + 1)
                if s * self.ava_fps - before >= 1 and s * self.ava_fps + after <= nframes]

    def _ava_records(self, video: str, ann: Dict, rows: List[str], excluded: List[str],
                     proposals: Dict[str, np.ndarray]) -> None:
        """Append one video's AVA csv rows, excluded timestamps and proposals."""
        rng = self._rng(video, 2)
        size, occluded_id = self.size, len(self.classes) + 1
        for timestamp in self.ava_timestamps(ann['nframes']):
            frame = timestamp * self.ava_fps
            img_key = f'{video},{timestamp:04d}'
            if frame in ann['ambiguous']:
                # A person partly in view but not annotated: AVA excludes such key frames.
                excluded.append(f'{img_key}\n')
            boxes = []
            for track_id, tube in enumerate(ann['tubes']):
                at = tube[tube[:, 0] == frame]
                if not len(at):
                    continue
                box = np.round(at[0, 1:] / size, 3)
                boxes.append(at[0, 1:])
                ids = [ann['label'] + 1] + ([occluded_id] if (track_id, frame) in
                                            ann['occluded'] else [])
                coords = ','.join(f'{v:.3f}' for v in box)
                rows.extend(f'{img_key},{coords},{i},{track_id}\n' for i in ids)
            # A person detector's output: every actor, a little off, with a high score, and
            # now and then a low-scored false alarm.
            dets = [np.append(np.clip(b + rng.normal(0, 0.03, 4) * np.tile(b[2:] - b[:2], 2),
                                      0, size - 1) / size, rng.uniform(0.9, 1.0))
                    for b in boxes]
            if rng.random() < 0.5:
                x1, y1 = rng.uniform(0, 0.7, 2)
                dets.append(np.array([x1, y1, x1 + 0.2, y1 + 0.3, rng.uniform(0.1, 0.8)]))
            if dets:
                proposals[img_key] = np.round(np.stack(dets), 3)


def _count(rng: np.random.Generator, bounds: Tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _color(rng: np.random.Generator, low: int = 0) -> Tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(low, 256, 3))


def _write_text(path: str, text: str) -> None:
    atomic_write(text.encode(), path)
