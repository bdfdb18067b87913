"""Synthetic actions: stick figures whose classes differ only in motion.

:class:`SyntheticActions` plans each video (:mod:`.synthetic_motion`: the classes, and how each
drives an actor's class-free state), renders it (:mod:`.synthetic_figures`: the stick
figures) over a cluttered, moving background with foreground occluders, annotates the actors'
visible spans as tubes, and writes the dataset. All actors of a video share its class (as in
UCF101-24), actors enter and leave (tubes start and end mid-video), the camera pans and
jitters, distractor shapes move and occluders pass in front of the actors.

:meth:`SyntheticActions.generate` writes an ACT-format dataset (``synthetic_gt.pkl`` +
``frames/<video>/%05d.jpg``), the actors' joints (``synthetic_joints.pkl``, the points the
stick figures are drawn from, usable as knots: ``ACTDataset(knots='joints', joints_file=...)``)
and the same videos in mmaction2's AVA layout (``ava/``, :mod:`.synthetic_ava`), fully
determined by the seed (byte-identical on re-run; the joints draw no random numbers, so the
frames and ground truth are what they were before the joints were written).
"""
import os
import os.path as osp
import pickle
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from ...structures.act_format import dump_act, validation_act
from ...utils.fileio import atomic_write
from .synthetic_ava import (
    AVA_OCCLUDED,
    OCCLUDED_FRACTION,
    add_ava_records,
    ava_timestamps,
    write_ava,
)
from .synthetic_figures import (
    BONES,
    JOINT_FLIP_INDICES,
    JOINT_NAMES,
    actor_joints,
    draw_actor,
    pose_angles,
    stick_figure,
)
from .synthetic_motion import CLASSES, actor_state, plan_video

__all__ = ['SyntheticActions', 'CLASSES', 'AVA_OCCLUDED', 'OCCLUDED_FRACTION', 'BONES',
           'JOINT_NAMES', 'JOINT_FLIP_INDICES', 'pose_angles', 'stick_figure', 'draw_actor',
           'actor_joints']

_MIN_VISIBLE = 0.3  # fraction of the box inside the frame for the actor to be annotated
_MAX_GAP, _MIN_RUN = 8, 4  # frames: tubes do not flicker at the border (_stable_runs)
_JPEG_QUALITY = 90
#: The random stream of each split (train and test kept theirs when validation was added).
_SPLIT_STREAMS = {'train': 0, 'test': 1, 'val': 2}
#: The validation ground truth beside ``synthetic_gt.pkl``
#: (:func:`~point3d_mm.structures.act_format.validation_act`).
VAL_GT_FILE = 'synthetic_val_gt.pkl'


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
        num_val: Validation videos, for choosing settings (linker thresholds, defaults)
            without looking at the test videos: the same distribution from their own
            random streams, so that adding them changes no train or test video.
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
                 num_val: int = 0, size: int = 128, min_frames: int = 32, max_frames: int = 96,
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
        if num_val < 0:
            raise ValueError(f'num_val must be >= 0, got {num_val}')
        self.num_val = num_val
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

    def val_video_names(self) -> List[str]:
        """Names of the validation videos."""
        return [f'val_{i:04d}' for i in range(self.num_val)]

    def _rng(self, video: str, stream: int) -> np.random.Generator:
        # Independent streams per video and purpose: a video does not change when the number
        # of videos changes, and the pixel noise does not shift the plan's draws.
        split, index = video.split('_')
        return np.random.default_rng([self.seed, _SPLIT_STREAMS[split], int(index), stream])

    def plan_video(self, video: str) -> Dict:
        """Draw everything about a video but the pixel noise.

        Args:
            video: A name from :meth:`video_names`.

        Returns:
            ``label`` and what :func:`~.synthetic_motion.plan_video` draws: ``nframes``,
            ``actors`` (per-actor parameters for :meth:`actor_state`), ``camera``,
            ``background``, ``distractors`` and ``occluders``.
        """
        label = int(video.split('_')[1]) % len(self.classes)
        return dict(label=label, **plan_video(
            self._rng(video, 0), self.classes[label], self.size, self.margin,
            self.min_frames, self.max_frames, self.max_actors))

    #: The class-free state an actor is drawn from at a frame
    #: (:func:`~.synthetic_motion.actor_state`).
    actor_state = staticmethod(actor_state)

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

    def ava_timestamps(self, nframes: int) -> List[int]:
        """AVA key-frame timestamps of a video of ``nframes`` whose clips fit inside it
        (:func:`~.synthetic_ava.ava_timestamps`)."""
        return ava_timestamps(nframes, self.ava_fps, self.ava_clip_len, self.ava_frame_interval)

    def generate(self, out_dir: str) -> Dict[str, str]:
        """Render every video and write the ACT and AVA layouts under ``out_dir``.

        Layout::

            out_dir/synthetic_gt.pkl                      ACT ground truth (1 split)
            out_dir/synthetic_val_gt.pkl                  with ``num_val``: the validation
                                                          file (its test list: the val_*
                                                          videos; validation_act)
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
            Paths of the written annotation files by name: ``act``, ``act_val`` (with
            ``num_val``), ``joints``, ``frames``,
            ``ava_train``, ``ava_val``, ``ava_train_excluded``, ``ava_val_excluded``,
            ``ava_train_proposals``, ``ava_val_proposals``, ``ava_label_map``.
        """
        train, test = self.video_names()
        act = dict(labels=list(self.classes), gttubes={}, nframes={}, resolution={},
                   train_videos=[train], test_videos=[test])
        joints = dict(joints={}, names=list(JOINT_NAMES), flip_indices=list(JOINT_FLIP_INDICES))
        ava = {'train': ([], [], {}), 'val': ([], [], {})}
        for video in train + test:
            ann = self._write_video(video, out_dir)
            act['gttubes'][video] = {ann['label']: ann['tubes']} if ann['tubes'] else {}
            joints['joints'][video] = {ann['label']: ann['joints']} if ann['tubes'] else {}
            act['nframes'][video] = ann['nframes']
            act['resolution'][video] = (self.size, self.size)
            add_ava_records(ava['train' if video in train else 'val'], video, ann,
                            self.ava_timestamps(ann['nframes']), self.ava_fps, self.size,
                            len(self.classes), self._rng(video, 2))

        paths = dict(act=osp.join(out_dir, 'synthetic_gt.pkl'),
                     joints=osp.join(out_dir, 'synthetic_joints.pkl'),
                     frames=osp.join(out_dir, 'frames'))
        dump_act(act, paths['act'])
        atomic_write(pickle.dumps(joints, protocol=4), paths['joints'])
        paths.update(write_ava(out_dir, self.classes, ava))
        if self.num_val:
            val = self.val_video_names()
            for video in val:
                ann = self._write_video(video, out_dir)
                act['gttubes'][video] = {ann['label']: ann['tubes']} if ann['tubes'] else {}
                act['nframes'][video] = ann['nframes']
                act['resolution'][video] = (self.size, self.size)
            paths['act_val'] = osp.join(out_dir, VAL_GT_FILE)
            dump_act(validation_act(act, [val], paths['act']), paths['act_val'])
        return paths

    def _write_video(self, video: str, out_dir: str) -> Dict:
        """Render ``video`` into ``out_dir/frames/<video>/`` and return its annotation."""
        frames, ann = self.render_video(video)
        frame_dir = osp.join(out_dir, 'frames', video)
        os.makedirs(frame_dir, exist_ok=True)
        for index, frame in enumerate(frames, 1):
            ok, buffer = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
            with open(osp.join(frame_dir, f'{index:05d}.jpg'), 'wb') as f:
                f.write(buffer.tobytes())
        return ann
