"""The ACT-format spatio-temporal detection dataset (JHMDB-21, UCF101-24, your own)."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmaction.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from ..structures.act_format import load_act, video_problems
from ..utils.safe_pickle import safe_pickle_load

KEY_FRAMES = ('last', 'center')
#: Knot order after a horizontal flip for JHMDB's 15 puppet joints (neck, belly, face, right
#: shoulder, left shoulder, right hip, left hip, right elbow, left elbow, right knee, left
#: knee, right wrist, left wrist, right ankle, left ankle): left and right swap.
JHMDB_JOINT_FLIP_INDICES = (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13)
#: Values of ``ACTDataset(knots=...)``.
KNOT_SOURCES = ('box', 'joints')


def clip_frame_ids(key_frame: int, nframes: int, clip_len: int, frame_interval: int = 1,
                   key_frame_mode: str = 'last') -> List[int]:
    """Frame numbers of the clip around a key frame, clamped to the video.

    Args:
        key_frame: The key frame, 1-based.
        nframes: Frames in the video.
        clip_len: T, frames in the clip.
        frame_interval: Stride between clip frames.
        key_frame_mode: 'last' (causal: the clip ends at the key frame) or 'center' (the key
            frame is at index ``clip_len // 2``).

    Returns:
        T 1-based frame numbers; those before frame 1 or after ``nframes`` repeat the end
        frame.
    """
    key_index = key_frame_index(clip_len, key_frame_mode)
    ids = key_frame + (np.arange(clip_len) - key_index) * frame_interval
    return np.clip(ids, 1, nframes).tolist()


def key_frame_index(clip_len: int, key_frame_mode: str) -> int:
    """Position of the key frame in a clip: ``clip_len - 1`` ('last') or ``clip_len // 2``."""
    if key_frame_mode not in KEY_FRAMES:
        raise ValueError(f"key_frame must be one of {KEY_FRAMES}, got '{key_frame_mode}'")
    return clip_len - 1 if key_frame_mode == 'last' else clip_len // 2


@DATASETS.register_module()
class ACTDataset(BaseDataset):
    """Clips of T frames from a dataset in the ACT ground-truth format.

    The annotation pickle (see :mod:`point3d_mm.structures.act_format`) gives per video its
    tubes, frame count and resolution, and the train/test videos of each split. One sample is
    one clip, identified by its key frame:

    * training: every frame of the split's train videos where at least one actor is
      annotated;
    * test (``test_mode=True``): every frame of the split's test videos (a video without a
      ``gttubes`` entry has no actors).

    Frames come from ``<data_prefix['img']>/<video>/<filename_tmpl>`` or, with
    ``data_prefix=dict(video=...)``, from the video file ``<video><video_ext>``.

    Each sample (before the pipeline) holds ``video``, ``key_frame``, ``frame_ids`` (T
    1-based frame numbers, clamped at the video ends), ``key_frame_index``, ``frame_dir`` +
    ``filename_tmpl`` or ``filename``, ``ori_shape`` (h, w), ``nframes``, ``gt_label`` (the
    clip's class: the most common label at the key frame, else the video's only label, else
    -1) and, one row per (clip frame, actor) box, ``gt_bboxes`` float32 (N, 4) in original
    pixels (the ACT file's own convention, not shifted), ``gt_labels`` int64 (N,),
    ``gt_frame_inds`` int64 (N,) in [0, T) and ``gt_track_ids`` int64 (N,) (index of the tube
    within the video, in label order). With ``knots='joints'`` also ``gt_knots`` float32
    (N, K, 2) (NaN where a joint is not visible: no target) and ``knot_flip_indices``; with
    ``knots='box'`` (the default) the knots are the boxes' edge midpoints, derived when the
    clip is packed. K follows the data: ``metainfo['num_knots']`` (4 for box knots).

    Joints come from one of two sources:

    * ``joints_file``: a pickle ``dict(joints={video: {label: [(L, K, 3) per tube]}},
      flip_indices=..., names=...)`` whose arrays match the tubes of ``gttubes`` one to one
      (row i is the tube's row i): x, y (the boxes' pixel coordinates) and visible (0/1).
      The synthetic generator writes one (``synthetic_joints.pkl``); its ``flip_indices``
      are used unless ``knot_flip_indices`` is given.
    * ``joints_root`` (JHMDB-21's puppet joints, the release's ``joint_positions`` folder):
      ``<joints_root>/<video>/joint_positions.mat``
      holding ``pos_img`` (2, K, nframes), MATLAB 1-based pixel (x, y), shifted to the 0-based
      coordinates of the ACT boxes, all visible. They need one tube per video (true of
      JHMDB-21).

    A video whose annotation is unusable — no ``nframes`` or ``resolution`` entry, a label
    index out of range, tube frames outside 1..nframes — is an error naming the file and the
    video (``on_bad='raise'``, the default) or a logged skip (``on_bad='skip'``). A video
    with fewer frames than ``clip_len`` is handled by ``on_short``: an error, a logged skip,
    or kept with its clips clamped at the ends ('clamp'; JHMDB-21 has 15-frame videos and
    the paper's T is 16). A pickle that lacks a key is always an error.

    Args:
        ann_file: The ACT pickle.
        pipeline: Transforms.
        data_prefix: ``dict(img=frames_root)`` or ``dict(video=videos_root)``.
        split: 1-based split of ``train_videos`` / ``test_videos``.
        clip_len: T.
        frame_interval: Stride between the frames of a clip.
        key_frame: 'last' (causal, the default: streaming inference sees the same clip) or
            'center'.
        filename_tmpl: Frame file name template, formatted with the 1-based frame number.
        video_ext: Extension of the video files with ``data_prefix=dict(video=...)``.
        on_bad: 'raise' or 'skip' for videos with unusable annotations.
        on_short: 'raise', 'skip' or 'clamp' for videos shorter than ``clip_len``.
        knots: 'box' (edge midpoints of the boxes) or 'joints' (from ``joints_file`` or
            ``joints_root``); by default 'joints' when either is given, else 'box'.
        joints_file: The joints pickle (see above); a relative path is relative to
            ``data_root``, as ``ann_file`` is.
        joints_root: Folder of per-video joint files (JHMDB layout); relative to
            ``data_root`` when relative.
        knot_flip_indices: Joint order after a horizontal flip (default: the joints file's,
            or JHMDB's 15 joints with ``joints_root``).
        test_mode: Build the test set.
        **kwargs: Further :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List = (),
                 data_prefix: Optional[Dict] = None,
                 split: int = 1,
                 clip_len: int = 7,
                 frame_interval: int = 1,
                 key_frame: str = 'last',
                 filename_tmpl: str = '{:05d}.jpg',
                 video_ext: str = '.mp4',
                 on_bad: str = 'raise',
                 on_short: str = 'raise',
                 knots: Optional[str] = None,
                 joints_file: Optional[str] = None,
                 joints_root: Optional[str] = None,
                 knot_flip_indices: Optional[Sequence[int]] = None,
                 test_mode: bool = False,
                 **kwargs) -> None:
        if on_bad not in ('raise', 'skip'):
            raise ValueError(f"on_bad must be 'raise' or 'skip', got '{on_bad}'")
        if on_short not in ('raise', 'skip', 'clamp'):
            raise ValueError(f"on_short must be 'raise', 'skip' or 'clamp', got '{on_short}'")
        if clip_len < 1 or frame_interval < 1:
            raise ValueError(f'clip_len and frame_interval must be >= 1, got {clip_len} '
                             f'and {frame_interval}')
        data_prefix = dict(img='') if data_prefix is None else data_prefix
        if set(data_prefix) not in ({'img'}, {'video'}):
            raise ValueError("data_prefix must be dict(img=frames_root) or "
                             f"dict(video=videos_root), got {data_prefix}")
        self.split = split
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.key_frame = key_frame
        self.key_frame_index = key_frame_index(clip_len, key_frame)
        self.filename_tmpl = filename_tmpl
        self.video_ext = video_ext
        self.on_bad = on_bad
        self.on_short = on_short
        if knots is None:
            knots = 'joints' if joints_file or joints_root else 'box'
        if knots not in KNOT_SOURCES:
            raise ValueError(f'knots must be one of {KNOT_SOURCES}, got {knots!r}')
        if knots == 'joints' and (joints_file is None) == (joints_root is None):
            raise ValueError("knots='joints' needs one of joints_file and joints_root")
        self.knots = knots
        self.joints_file = joints_file if knots == 'joints' else None
        self.joints_root = joints_root if knots == 'joints' else None
        self._joints_data: Optional[Dict] = None
        self.knot_flip_indices = None if knot_flip_indices is None else list(knot_flip_indices)
        self._videos: Dict[str, Dict] = {}
        super().__init__(ann_file=ann_file, pipeline=list(pipeline), data_prefix=data_prefix,
                         test_mode=test_mode, **kwargs)

    def _join_prefix(self) -> None:
        """Join ``data_root`` with the annotation and frame paths (mmengine) and with the
        joint paths, which are relative to ``data_root`` as ``ann_file`` is."""
        super()._join_prefix()
        if self.data_root:
            if self.joints_file and not osp.isabs(self.joints_file):
                self.joints_file = osp.join(self.data_root, self.joints_file)
            if self.joints_root and not osp.isabs(self.joints_root):
                self.joints_root = osp.join(self.data_root, self.joints_root)

    def _load_joint_sources(self) -> None:
        """Read the joints file and settle ``knot_flip_indices`` (the given ones, else the
        joints file's, else JHMDB's with ``joints_root``)."""
        if self.joints_file is not None and self._joints_data is None:
            if not osp.isfile(self.joints_file):
                raise FileNotFoundError(f'{self.ann_file}: joints_file {self.joints_file} '
                                        'does not exist')
            self._joints_data = safe_pickle_load(self.joints_file)
            if self.knot_flip_indices is None:
                indices = self._joints_data.get('flip_indices')
                self.knot_flip_indices = None if indices is None else list(indices)
        if self.knot_flip_indices is None and self.joints_root is not None:
            self.knot_flip_indices = list(JHMDB_JOINT_FLIP_INDICES)

    def _bad_video(self, problem: str, action: str, option: str) -> None:
        message = f'{self.ann_file}: {problem}'
        if action == 'raise':
            choices = "'skip' or 'clamp'" if option == 'on_short' else "'skip'"
            raise ValueError(f'{message} (pass {option}={choices} to go on)')
        MMLogger.get_current_instance().warning('skipped: ' + message)

    def load_data_list(self) -> List[Dict]:
        """Read the ACT pickle, check the split's videos and list one entry per clip."""
        split_key = 'test_videos' if self.test_mode else 'train_videos'
        self._load_joint_sources()
        act = load_act(self.ann_file,
                       required=('labels', 'gttubes', 'nframes', 'resolution', split_key))
        splits = act[split_key]
        if not 1 <= self.split <= len(splits):
            raise ValueError(f'{self.ann_file}: split {self.split} requested but '
                             f"'{split_key}' has {len(splits)} split(s) (splits are 1-based)")
        self._metainfo['classes'] = tuple(act['labels'])
        self._metainfo['num_knots'] = (4 if self.knots == 'box' else
                                       len(self.knot_flip_indices or ()))

        data_list, skipped, clamped = [], 0, 0
        for video in splits[self.split - 1]:
            problems = video_problems(act, video)
            if problems:
                self._bad_video('; '.join(map(str, problems)), self.on_bad, 'on_bad')
                skipped += 1
                continue
            nframes = act['nframes'][video]
            if nframes < self.clip_len:
                if self.on_short != 'clamp':
                    self._bad_video(f"video '{video}' has {nframes} frames, fewer than "
                                    f'clip_len={self.clip_len}', self.on_short, 'on_short')
                    skipped += 1
                    continue
                clamped += 1
            tubes = act['gttubes'].get(video, {})
            table = self._index_video(tubes)
            if self.knots == 'joints':
                if self.joints_file is not None:
                    knots = self._file_knots(video, tubes, table)
                else:
                    knots = self._load_joints(video, nframes, table)
                    if not isinstance(knots, str):
                        knots = knots[table['frames'] - 1]
                if isinstance(knots, str):
                    self._bad_video(knots, self.on_bad, 'on_bad')
                    skipped += 1
                    continue
                table['knots'] = knots
            self._videos[video] = dict(nframes=nframes, ori_shape=act['resolution'][video],
                                       **table)
            video_labels = np.unique(table['labels'])
            video_label = int(video_labels[0]) if len(video_labels) == 1 else -1
            # rows of frame f: bounds[f - 1]:bounds[f]
            bounds = np.searchsorted(table['frames'], np.arange(1, nframes + 2)).tolist()
            for frame in range(1, nframes + 1):
                lo, hi = bounds[frame - 1], bounds[frame]
                if hi == lo and not self.test_mode:
                    continue
                label = video_label
                if hi > lo and video_label < 0:  # several classes: the key frame's majority
                    label = int(np.argmax(np.bincount(table['labels'][lo:hi])))
                data_list.append(dict(video=video, key_frame=frame, gt_label=label))
        if clamped:
            MMLogger.get_current_instance().info(
                f'{self.ann_file}: {clamped} videos shorter than clip_len={self.clip_len}; '
                'their clips repeat the end frames')
        if not data_list:
            raise ValueError(f'{self.ann_file}: no clips in split {self.split} of '
                             f"'{split_key}' ({len(splits[self.split - 1])} videos, "
                             f'{skipped} skipped)')
        return data_list

    @staticmethod
    def _index_video(tubes: Dict[int, List[np.ndarray]]) -> Dict[str, np.ndarray]:
        """Flatten a video's tubes into per-box rows sorted by frame."""
        rows, labels, track_ids = [np.zeros((0, 5), np.float32)], [], []
        track_id = 0
        for label, label_tubes in tubes.items():
            for tube in label_tubes:
                rows.append(tube)
                labels.append(np.full(len(tube), label, np.int64))
                track_ids.append(np.full(len(tube), track_id, np.int64))
                track_id += 1
        rows = np.concatenate(rows)
        labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        track_ids = np.concatenate(track_ids) if track_ids else np.zeros(0, np.int64)
        order = np.argsort(rows[:, 0], kind='stable')
        return dict(frames=rows[order, 0].astype(np.int64), boxes=rows[order, 1:],
                    labels=labels[order], track_ids=track_ids[order], order=order)

    def _file_knots(self, video: str, tubes: Dict[int, List[np.ndarray]],
                    table: Dict[str, np.ndarray]) -> Union[np.ndarray, str]:
        """(R, K, 2) knots of a video's box rows from the joints file (NaN: not visible), or
        what is wrong."""
        video_joints = self._joints_data['joints'].get(video)
        if video_joints is None:
            return f"video '{video}': no joints in {self.joints_file}"
        num_knots = len(self.knot_flip_indices or ())
        arrays = [np.zeros((0, num_knots, 3), np.float32)]
        for label, label_tubes in tubes.items():
            label_joints = video_joints.get(label, [])
            if len(label_joints) != len(label_tubes):
                return (f"video '{video}': {self.joints_file} has {len(label_joints)} joint "
                        f'tracks for label {label}, the ground truth {len(label_tubes)} tubes')
            for tube, joints in zip(label_tubes, label_joints):
                joints = np.asarray(joints, np.float32)
                if joints.shape != (len(tube), num_knots, 3):
                    return (f"video '{video}': joints of shape {joints.shape} for a tube of "
                            f'{len(tube)} boxes and {num_knots} flip indices')
                arrays.append(joints)
        joints = np.concatenate(arrays)[table['order']]
        return np.where(joints[..., 2:] > 0, joints[..., :2], np.nan).astype(np.float32)

    def _load_joints(self, video: str, nframes: int,
                     table: Dict[str, np.ndarray]) -> Union[np.ndarray, str]:
        """(nframes, K, 2) 0-based joint positions of a video, or what is wrong."""
        from scipy.io import loadmat  # scipy comes with mmdet; only this option needs it
        path = osp.join(self.joints_root, video, 'joint_positions.mat')
        if not osp.isfile(path):
            return f"video '{video}': joint file {path} does not exist"
        pos = loadmat(path).get('pos_img')
        if pos is None or pos.ndim != 3 or pos.shape[0] != 2 or pos.shape[2] != nframes:
            shape = None if pos is None else pos.shape
            return (f"video '{video}': {path} must hold pos_img of shape (2, K, {nframes}), "
                    f'has {shape}')
        if len(np.unique(table['track_ids'])) > 1:
            return f"video '{video}': joints need one tube per video, it has several"
        if pos.shape[1] != len(self.knot_flip_indices):
            return (f"video '{video}': {path} has {pos.shape[1]} joints but "
                    f'knot_flip_indices has {len(self.knot_flip_indices)}')
        return (pos.transpose(2, 1, 0) - 1).astype(np.float32)

    def get_data_info(self, idx: int) -> Dict:
        """The clip's frames, paths and ground truth (see the class docstring)."""
        info = super().get_data_info(idx)
        video = self._videos[info['video']]
        frame_ids = clip_frame_ids(info['key_frame'], video['nframes'], self.clip_len,
                                   self.frame_interval, self.key_frame)
        if 'video' in self.data_prefix:
            info['filename'] = osp.join(self.data_prefix['video'],
                                        info['video'] + self.video_ext)
        else:
            info['frame_dir'] = osp.join(self.data_prefix['img'], info['video'])
            info['filename_tmpl'] = self.filename_tmpl
        rows, positions = [], []
        for position, frame in enumerate(frame_ids):
            lo, hi = np.searchsorted(video['frames'], [frame, frame + 1])
            rows.extend(range(lo, hi))
            positions.extend([position] * (hi - lo))
        info.update(
            frame_ids=frame_ids,
            key_frame_index=self.key_frame_index,
            ori_shape=video['ori_shape'],
            nframes=video['nframes'],
            gt_bboxes=video['boxes'][rows].reshape(-1, 4).astype(np.float32),
            gt_labels=video['labels'][rows],
            gt_frame_inds=np.asarray(positions, np.int64),
            gt_track_ids=video['track_ids'][rows])
        if 'knots' in video:
            info['gt_knots'] = video['knots'][np.asarray(rows, np.int64)]  # (N, K, 2)
            info['knot_flip_indices'] = self.knot_flip_indices
        return info
