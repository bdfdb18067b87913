"""Importers of other detectors' detections (point3d_mm/evaluation/functional/peer_formats.py)
and the protocol comparison (protocol_comparison.py, tools/analysis/compare_protocols.py).

Round trips: our own detections (and tubes), written here the way each peer's code writes its
files (MOC-Detector ``ACT.py``/``ACT_build.py``, mmaction2 ``format_det_result.py``, YOWO
``core/optimization.py``/YOWOv2 ``ucf_jhmdb_evaluator.py``, mmaction2 ``results2csv``/YOWOv3
``scripts/ava_eval.py``), read back and scored equal under ``act`` and ``voc``.
"""
import csv
import json
import os
import os.path as osp
import pickle
import re

import numpy as np
import pytest
from tool_helpers import load_tool

from point3d_mm.evaluation.functional import (
    TubeLinker,
    frame_ap,
    save_frame_detections,
    video_ap,
)
from point3d_mm.evaluation.functional.peer_formats import guess_format, load_detections
from point3d_mm.structures.act_format import dump_act, load_act


# ------------------------------------------------------------------ peer writers
def write_moc(folder, dets, videos, tubes=None):
    """``frame_detections.pkl`` (bare array indexing the split) and ``<video>_tubes.pkl``."""
    os.makedirs(folder, exist_ok=True)
    with open(osp.join(folder, 'frame_detections.pkl'), 'wb') as f:
        pickle.dump(dets, f, protocol=4)
    for video, video_tubes in (tubes or {}).items():
        by_label = {}
        for label, score, tube in video_tubes:
            out = np.column_stack([tube, np.full(len(tube), score)])  # (L, 6), frame scores
            by_label.setdefault(label, []).append([out, score])
        os.makedirs(osp.dirname(osp.join(folder, video)), exist_ok=True)
        with open(osp.join(folder, f'{video}_tubes.pkl'), 'wb') as f:
            pickle.dump(by_label, f)
    return folder


def write_mmaction2(path, dets, videos, gt, tubes=None):
    """``<r>-formated.pkl`` (bare array indexing ``test_videos[0]``), ``<r>_vid_dets.pkl``."""
    first = list(gt['test_videos'][0])
    rows = dets.copy()
    rows[:, 0] = [first.index(videos[int(i)]) for i in dets[:, 0]]
    with open(path, 'wb') as f:
        pickle.dump(rows, f)
    if tubes is not None:
        by_label = {label: [] for label in range(len(gt['labels']))}
        for video, video_tubes in tubes.items():
            for label, score, tube in video_tubes:
                by_label[label].append((video, score,
                                        np.column_stack([tube, np.zeros(len(tube))])))
        with open(path.replace('-formated.pkl', '_vid_dets.pkl'), 'wb') as f:
            pickle.dump(by_label, f)
    return path


def write_yowo(folder, dets, videos, label_offset=1, frame_offset=0):
    """One ``<video with / as _>_<frame:05d>.txt`` per frame: ``class score x1 y1 x2 y2``."""
    os.makedirs(folder, exist_ok=True)
    for (iv, frame), rows in _by_frame(dets).items():
        name = f'{videos[iv].replace("/", "_")}_{frame + frame_offset:05d}.txt'
        with open(osp.join(folder, name), 'w') as f:
            for row in rows:
                f.write(' '.join([str(int(row[2]) + label_offset)] + [repr(float(v)) for v in
                                                                      row[3:]]) + '\n')
    return folder


def write_ava_csv(path, dets, videos, gt, fps=1.0):
    """``video, timestamp, x1, y1, x2, y2 (normalised), action_id (label + 1), score``."""
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        for row in dets:
            video = videos[int(row[0])]
            h, w = gt['resolution'][video]
            box = row[4:8] / (w, h, w, h)
            writer.writerow([video, repr(float(row[1] / fps)), *(repr(float(v)) for v in box),
                             int(row[2]) + 1, repr(float(row[3]))])
    return path


def at(path):
    """A pattern for an error message that starts with the file."""
    return '^' + re.escape(path) + ': '


def _by_frame(dets):
    groups = {}
    for row in dets:
        groups.setdefault((int(row[0]), int(row[1])), []).append(row)
    return groups


# ------------------------------------------------------------------ the data
def tiny_case():
    """Two videos, two classes: jittered ground truth, wrong classes, background."""
    rng = np.random.default_rng(3)
    tube = lambda start, step, frames: np.array(  # noqa: E731
        [[f, start + step * i, 20, start + step * i + 40, 80] for i, f in enumerate(frames)],
        np.float32)
    gt = dict(labels=['run', 'jump'], nframes=dict(a=12, b=10),
              resolution=dict(a=(120, 160), b=(120, 160)), train_videos=[[]],
              test_videos=[['a', 'b']],
              gttubes=dict(a={0: [tube(10, 3, range(1, 13))]},
                           b={1: [tube(60, -2, range(2, 10))]}))
    return gt, detections_from(gt, ['a', 'b'], rng)


def detections_from(gt, videos, rng, per_box=2):
    """Detections around every ground-truth box (a fifth with a wrong class) and on random
    frames (background); distinct scores."""
    rows = []
    for iv, video in enumerate(videos):
        h, w = gt['resolution'][video]
        for label, tubes in gt['gttubes'][video].items():
            for tube in tubes:
                for box in tube:
                    for _ in range(rng.integers(1, per_box + 1)):
                        wrong = rng.random() < 0.2
                        lab = (label + 1) % len(gt['labels']) if wrong else label
                        rows.append([iv, box[0], lab, 0, *(box[1:] + rng.normal(0, 4, 4))])
        for _ in range(3):
            x, y = rng.uniform(0, w - 40), rng.uniform(0, h - 40)
            rows.append([iv, rng.integers(1, gt['nframes'][video] + 1),
                         rng.integers(0, len(gt['labels'])), 0, x, y, x + 40, y + 40])
    rows = np.array(rows, dtype=np.float64)
    rows[:, 3] = (rng.permutation(len(rows)) + rng.random(len(rows))) / len(rows)
    return rows


def scores(gt, dets, videos, tubes=None):
    result = {p: frame_ap(gt, dets, videos, protocol=p)['mAP'] for p in ('act', 'voc')}
    if tubes is not None:
        result.update({f'{p}_video': video_ap(gt, tubes, videos, protocol=p)['mAP']['0.5']
                       for p in ('act', 'voc')})
    return result


def written(fmt, tmp_path, gt, dets, videos, tubes=None):
    """Our detections written as the peer writes them; the path to read them back from."""
    if fmt == 'point3d':
        path = str(tmp_path / 'dets.npz')
        save_frame_detections(path, dets, videos)
        return path
    if fmt == 'moc':
        return write_moc(str(tmp_path / 'moc'), dets, videos, tubes)
    if fmt == 'mmaction2':
        return write_mmaction2(str(tmp_path / 'r-formated.pkl'), dets, videos, gt, tubes)
    if fmt == 'yowo':
        return write_yowo(str(tmp_path / 'yowo'), dets, videos)
    return write_ava_csv(str(tmp_path / f'{fmt}.csv'), dets, videos, gt)


FORMATS_WITH_TUBES = ('moc', 'mmaction2')


@pytest.mark.parametrize('fmt', ['point3d', 'moc', 'mmaction2', 'yowo', 'ava_csv', 'yowov3'])
def test_round_trip_scores_equal(fmt, tmp_path):
    gt, dets = tiny_case()
    videos = ['a', 'b']
    tubes = TubeLinker(min_length=2).link_videos(dets, videos)
    path = written(fmt, tmp_path, gt, dets, videos, tubes)
    read = load_detections(path, gt, fmt=None if fmt != 'yowov3' else fmt)
    assert read.format == (fmt if fmt != 'yowov3' else 'yowov3') and read.videos == videos
    expected = scores(gt, dets, videos, tubes if fmt in FORMATS_WITH_TUBES else None)
    got = scores(gt, read.detections, videos, read.tubes)
    assert got == pytest.approx(expected, abs=1e-6)
    assert 0.2 < expected['act'] < 1 and (read.tubes is not None) == (fmt in FORMATS_WITH_TUBES)


REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_DETECTIONS = osp.join(REPO, 'work_dirs', 'demo', 'test_detections.pkl')
DEMO_GT = osp.join(REPO, 'data', 'synthetic', 'synthetic_gt.pkl')


@pytest.mark.parametrize('fmt', ['moc', 'mmaction2', 'yowo', 'ava_csv', 'yowov3'])
def test_round_trip_of_the_demo_models_detections(fmt, tmp_path):
    if not (osp.isfile(DEMO_DETECTIONS) and osp.isfile(DEMO_GT)):
        pytest.skip('the demo model\'s test detections are made by `make demo`')
    gt = load_act(DEMO_GT)
    ours = load_detections(DEMO_DETECTIONS, gt)
    dets, videos = ours.detections, ours.videos
    path = written(fmt, tmp_path, gt, dets, videos)
    read = load_detections(path, gt, fmt=fmt)
    assert scores(gt, read.detections, videos) == pytest.approx(scores(gt, dets, videos),
                                                                abs=1e-6)


def test_yowo_empty_and_malformed_files(tmp_path):
    gt, dets = tiny_case()
    folder = write_yowo(str(tmp_path / 'yowo'), dets, ['a', 'b'])
    open(osp.join(folder, 'a_00001.txt'), 'w').close()  # frame a/1 without boxes: no rows
    on_frame = np.sum((dets[:, 0] == 0) & (dets[:, 1] == 1))
    assert on_frame and len(load_detections(folder, gt).detections) == len(dets) - on_frame
    with open(osp.join(folder, 'b_00003.txt'), 'a') as f:
        f.write('\n1 0.5 1 2 3\n')
    with pytest.raises(ValueError, match=r'b_00003.txt:\d+: expected 6 numbers, got 5'):
        load_detections(folder, gt)


def test_ava_csv_timestamps_and_other_splits(tmp_path):
    gt, dets = tiny_case()
    # Split 2 holds 'b' only: the rows of 'a' are dropped (and named), 'b' is index 0.
    path = write_ava_csv(str(tmp_path / 'd.csv'), dets, ['a', 'b'], gt, fps=2.0)
    read = load_detections(path, gt, split=1, fps=2.0)
    assert frame_ap(gt, read.detections, ['a', 'b'])['mAP'] == pytest.approx(
        frame_ap(gt, dets, ['a', 'b'])['mAP'], abs=1e-6)
    gt2 = dict(gt, test_videos=[['a', 'b'], ['b']])
    read = load_detections(path, gt2, split=2, fps=2.0)
    assert read.outside == ['a'] and read.videos == ['b'] and set(read.detections[:, 0]) == {0}
    # Read with the wrong fps, timestamps land on frames twice too far: refused.
    with pytest.raises(ValueError, match=at(path) + ".* beyond their video's last frame"):
        load_detections(path, gt, fps=4.0)


@pytest.fixture(scope='module')
def jhmdb(shared_data):
    """The real JHMDB-21 ground truth and detections made around its split-1 boxes."""
    gt = load_act(osp.join(shared_data, 'act', 'JHMDB-GT.pkl'))
    videos = list(gt['test_videos'][0])[:60]
    gt['test_videos'] = [videos]
    return gt, videos, detections_from(gt, videos, np.random.default_rng(5), per_box=1)


@pytest.mark.parametrize('fmt', ['moc', 'yowo', 'ava_csv'])
def test_round_trip_on_jhmdb(fmt, jhmdb, tmp_path):
    gt, videos, dets = jhmdb
    read = load_detections(written(fmt, tmp_path, gt, dets, videos), gt)
    assert scores(gt, read.detections, videos) == pytest.approx(scores(gt, dets, videos),
                                                                abs=1e-6)


def test_wrong_class_order_is_refused(jhmdb, tmp_path):
    gt, videos, dets = jhmdb
    shuffled = dets.copy()
    shuffled[:, 2] = (len(gt['labels']) - 1) - dets[:, 2]   # the classes in reverse order
    path = write_yowo(str(tmp_path / 'yowo'), shuffled, videos)
    with pytest.raises(ValueError, match=at(path) + "its class order does not look like the "
                                         r"ground truth's: only \d+% .*0-based"):
        load_detections(path, gt)
    # 0-based class ids where YOWO writes 1-based ones: the first class reads as -1.
    path = write_yowo(str(tmp_path / 'yowo0'), dets, videos, label_offset=0)
    with pytest.raises(ValueError, match=at(path) + "detection labels must lie in "):
        load_detections(path, gt)


@pytest.mark.parametrize('offset,message', [(-1, r'frame 0 of .*: frames are 1-based'),
                                            (1, r"beyond their video's last frame")])
def test_frame_offsets_are_refused(offset, message, jhmdb, tmp_path):
    gt, videos, dets = jhmdb
    path = write_yowo(str(tmp_path / 'yowo'), dets, videos, frame_offset=offset)
    with pytest.raises(ValueError, match=at(path) + f'.*{message}'):
        load_detections(path, gt)
    shifted = dets.copy()
    shifted[:, 1] += offset
    path = write_moc(str(tmp_path / 'moc'), shifted, videos)
    with pytest.raises(ValueError, match=message):
        load_detections(path, gt)


def test_frames_that_fit_one_frame_later_are_refused(tmp_path):
    # Detections of frames 2..11 written as frames 1..10: inside the video, so only the
    # agreement with the ground truth shows the offset (the boxes move 25 pixels a frame).
    gt, _ = tiny_case()
    tube = np.array([[f, 25 * f, 20, 25 * f + 40, 80] for f in range(1, 13)], np.float32)
    gt = dict(gt, gttubes=dict(a={0: [tube]}, b={1: [tube[:10]]}),
              resolution=dict(a=(120, 400), b=(120, 400)))
    dets = np.array([[v, f - 1, v, 1 - f / 100, *tube[f - 1, 1:]] for v in (0, 1)
                     for f in range(2, 11)] * 2, dtype=np.float64)
    dets[:, 3] -= np.arange(len(dets)) * 1e-4
    path = write_yowo(str(tmp_path / 'yowo'), dets, ['a', 'b'])
    with pytest.raises(ValueError, match=at(path) + 'its frames agree better with the ground '
                                         'truth 1 frame later'):
        load_detections(path, gt)


def test_files_of_another_dataset_are_refused(jhmdb, shared_data, tmp_path):
    gt, videos, dets = jhmdb
    ucf = load_act(osp.join(shared_data, 'act', 'ucf24_v2_gt_sample.pkl'))
    ucf_videos = list(ucf['test_videos'][0])
    ucf_dets = detections_from(ucf, ucf_videos, np.random.default_rng(1), per_box=1)
    path = write_ava_csv(str(tmp_path / 'ucf.csv'), ucf_dets, ucf_videos, ucf)
    with pytest.raises(ValueError, match=at(path) + '1 of its 1 videos are not in the ground '
                                         r'truth \(a file of another dataset\?\)'):
        load_detections(path, gt)
    path = write_yowo(str(tmp_path / 'yowo'), ucf_dets, ucf_videos)
    with pytest.raises(ValueError, match=at(path) + '.* file\\(s\\) name no video of the '
                                         'ground truth'):
        load_detections(path, gt)
    # A bare array names videos by index only: JHMDB's boxes moved off every actor.
    moved = dets.copy()
    moved[:, [4, 6]] = np.where(moved[:, [4]] > 160, moved[:, [4, 6]] - 150,
                                moved[:, [4, 6]] + 150)
    path = write_moc(str(tmp_path / 'moc'), moved, videos)
    with pytest.raises(ValueError, match=r"none of its \d+ detections overlaps a "
                                         'ground-truth box'):
        load_detections(path, gt)


@pytest.mark.parametrize('fmt', ['point3d', 'moc', 'yowo', 'ava_csv'])
@pytest.mark.parametrize('column,value', [(3, np.nan), (3, np.inf), (6, -np.inf)])
def test_nan_and_infinite_values_are_refused(fmt, column, value, tmp_path):
    gt, dets = tiny_case()
    dets[5, column] = value
    path = written(fmt, tmp_path, gt, dets, ['a', 'b'])
    with pytest.raises(ValueError, match='NaN or infinite'):
        load_detections(path, gt, fmt=fmt)


def test_eval_detections_refuses_a_nan_score(tmp_path):
    # Before: the NaN-score row ranked first, matched the only box and scored frame-mAP 100.
    gt = dict(labels=['run'], nframes=dict(v=1), resolution=dict(v=(120, 160)),
              train_videos=[[]], test_videos=[['v']],
              gttubes=dict(v={0: [np.array([[1, 0, 0, 10, 10]], np.float32)]}))
    ann = str(tmp_path / 'gt.pkl')
    dump_act(gt, ann)
    dets = str(tmp_path / 'dets.npz')
    save_frame_detections(dets, np.array([[0, 1, 0, np.nan, 0, 0, 10, 10]]), ['v'])
    with pytest.raises(SystemExit) as exit_info:
        load_tool('analysis/eval_detections.py').main([ann, dets, '--no-video'])
    message = str(exit_info.value.code)
    assert message.startswith(f'eval_detections.py: ValueError: {dets}: ') and 'NaN' in message


def test_guess_format(tmp_path):
    gt, dets = tiny_case()
    assert guess_format(written('point3d', tmp_path, gt, dets, ['a', 'b'])) == 'point3d'
    assert guess_format(written('moc', tmp_path, gt, dets, ['a', 'b'])) == 'moc'
    assert guess_format(written('yowo', tmp_path, gt, dets, ['a', 'b'])) == 'yowo'
    assert guess_format(written('ava_csv', tmp_path, gt, dets, ['a', 'b'])) == 'ava_csv'
    csv_path = str(tmp_path / 'ours.csv')
    save_frame_detections(csv_path, dets, ['a', 'b'])
    assert guess_format(csv_path) == 'point3d'


def test_compare_protocols_tool(tmp_path):
    gt, dets = tiny_case()
    ann = str(tmp_path / 'gt.pkl')
    dump_act(gt, ann)
    tubes = TubeLinker(min_length=2).link_videos(dets, ['a', 'b'])
    ours = written('point3d', tmp_path, gt, dets, ['a', 'b'])
    moc = written('moc', tmp_path, gt, dets, ['a', 'b'], tubes)
    out, markdown = str(tmp_path / 'cmp.json'), str(tmp_path / 'cmp.md')
    rows = load_tool('analysis/compare_protocols.py').main(
        [ann, ours, moc, '--linker', '{"min_length": 2}', '--out', out, '--markdown',
         markdown])
    # One row per file and protocol (act, voc, yowov3), and the MOC file's own tubes twice.
    assert [(r['file'], r['protocol'], r['tubes']) for r in rows] == [
        (ours, 'act', 'linked'), (ours, 'voc', 'linked'), (ours, 'yowov3', None),
        (moc, 'act', 'linked'), (moc, 'voc', 'linked'), (moc, 'yowov3', None),
        (moc, 'act', 'file'), (moc, 'voc', 'file')]
    for row in rows[:3]:
        for frames in ('all', 'annotated'):
            assert row['frame_mAP'][frames] == pytest.approx(
                frame_ap(gt, dets, ['a', 'b'], protocol=row['protocol'], frames=frames)['mAP'])
    assert rows[0]['video_mAP']['0.5'] == pytest.approx(
        video_ap(gt, tubes, ['a', 'b'], protocol='act')['mAP']['0.5'])
    assert rows[2]['video_mAP'] is None and rows[6]['frame_mAP'] is None
    assert rows[6]['video_mAP'] == pytest.approx(rows[0]['video_mAP'], abs=1e-6)
    with open(out) as f:
        assert json.load(f)['rows'][1]['protocol'] == 'voc'
    with open(markdown) as f:
        table = f.read().splitlines()
    assert table[0].startswith('| file | protocol | tubes | frame-mAP@0.5 all frames |')
    assert len(table) == 2 + len(rows)
    assert f'| {ours} | act | linked | {100 * rows[0]["frame_mAP"]["all"]:.2f} |' in table[2]
