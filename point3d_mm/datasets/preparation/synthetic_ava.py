"""The synthetic actions in mmaction2's AVA layout: key frames, annotation rows, excluded
timestamps, person proposals and the label map.

Actors are multi-label as in AVA: besides its action, an actor whose box is at least
:data:`OCCLUDED_FRACTION` hidden by a foreground occluder at the key frame is also
:data:`AVA_OCCLUDED`.
"""
import os.path as osp
import pickle
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ...utils.fileio import atomic_write

#: The AVA layout's extra label (see the module docstring).
AVA_OCCLUDED = 'occluded'
OCCLUDED_FRACTION = 0.3

#: Per split: (csv rows, excluded timestamp rows, {img_key: (N, 5) proposals}).
AVARecords = Tuple[List[str], List[str], Dict[str, np.ndarray]]


def ava_timestamps(nframes: int, fps: int, clip_len: int, frame_interval: int) -> List[int]:
    """AVA key-frame timestamps of a video whose clips fit inside it.

    Timestamp ``s`` is frame ``s * fps`` (1-based file number), which is what mmaction2's
    ``AVADataset(fps=fps, timestamp_start=0, start_index=0)`` and ``SampleAVAFrames`` read as
    the centre of the clip. Key frames whose clip of ``clip_len`` frames at
    ``frame_interval`` (with training's random offsets) would reach outside the video are
    left out, since ``SampleAVAFrames`` does not clamp at a video's ends.
    """
    before = (clip_len // 2) * frame_interval + frame_interval // 2
    after = ((clip_len + 1) // 2 - 1) * frame_interval + (frame_interval + 1) // 2 - 1
    return [s for s in range(1, nframes // fps + 1)
            if s * fps - before >= 1 and s * fps + after <= nframes]


def add_ava_records(records: AVARecords, video: str, ann: Dict, timestamps: Sequence[int],
                    fps: int, size: int, num_classes: int, rng: np.random.Generator) -> None:
    """Append one video's AVA csv rows, excluded timestamps and proposals to ``records``.

    Args:
        records: The split's records, extended in place.
        video: The video's name.
        ann: Its annotation (``SyntheticActions.render_video``): ``label``, ``tubes``,
            ``occluded``, ``ambiguous``.
        timestamps: Its key frames' timestamps (:func:`ava_timestamps`).
        fps: Frames per "second".
        size: Frame width and height (boxes are written relative to it).
        num_classes: The action classes (label ids 1..num_classes; :data:`AVA_OCCLUDED` is
            ``num_classes + 1``).
        rng: The video's proposal stream.
    """
    rows, excluded, proposals = records
    occluded_id = num_classes + 1
    for timestamp in timestamps:
        frame = timestamp * fps
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


def write_ava(out_dir: str, classes: Sequence[str],
              records: Dict[str, AVARecords]) -> Dict[str, str]:
    """Write the label map and each split's records under ``<out_dir>/ava``.

    Args:
        out_dir: The dataset folder.
        classes: The action classes, in label order.
        records: {split ('train', 'val'): its records}.

    Returns:
        The paths written: ``ava_label_map``, and per split ``ava_<split>``,
        ``ava_<split>_excluded``, ``ava_<split>_proposals``.
    """
    paths = dict(ava_label_map=osp.join(out_dir, 'ava', 'action_list.txt'))
    names = [*classes, AVA_OCCLUDED]
    _write_text(paths['ava_label_map'], ''.join(
        f'item {{\n  name: "{name}"\n  id: {i}\n}}\n' for i, name in enumerate(names, 1)))
    for split, (rows, excluded, proposals) in records.items():
        stem = osp.join(out_dir, 'ava', f'synthetic_{split}')
        paths[f'ava_{split}'] = stem + '.csv'
        paths[f'ava_{split}_excluded'] = stem + '_excluded_timestamps.csv'
        paths[f'ava_{split}_proposals'] = osp.join(
            out_dir, 'ava', f'synthetic_dense_proposals_{split}.pkl')
        _write_text(paths[f'ava_{split}'], ''.join(rows))
        _write_text(paths[f'ava_{split}_excluded'], ''.join(excluded))
        atomic_write(pickle.dumps(proposals, protocol=4), paths[f'ava_{split}_proposals'])
    return paths


def _write_text(path: str, text: str) -> None:
    atomic_write(text.encode(), path)
