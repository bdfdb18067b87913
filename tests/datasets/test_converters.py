import os.path as osp
import runpy
import sys
from unittest import mock

import cv2
import numpy as np
import pytest
from dataset_helpers import small_act

from point3d_mm.datasets import ACTDataset
from point3d_mm.datasets.preparation.csv_annotations import (
    act_to_csv,
    csv_to_act,
    read_csv_rows,
    write_csv_rows,
)
from point3d_mm.datasets.preparation.multisports import multisports_to_act
from point3d_mm.structures.act_format import dump_act, load_act
from point3d_mm.utils.safe_pickle import safe_pickle_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def assert_act_equal(a: dict, b: dict) -> None:
    assert a['labels'] == b['labels']
    assert a['nframes'] == b['nframes'] and a['resolution'] == b['resolution']
    assert a['train_videos'] == b['train_videos'] and a['test_videos'] == b['test_videos']
    assert a['gttubes'].keys() == b['gttubes'].keys()
    for video in a['gttubes']:
        assert a['gttubes'][video].keys() == b['gttubes'][video].keys(), video
        for label in a['gttubes'][video]:
            tubes_a, tubes_b = a['gttubes'][video][label], b['gttubes'][video][label]
            assert len(tubes_a) == len(tubes_b)
            for ta, tb in zip(tubes_a, tubes_b):
                np.testing.assert_array_equal(ta, tb)


def test_csv_roundtrip_on_real_jhmdb(shared_data, tmp_path):
    act = load_act(osp.join(shared_data, 'act', 'JHMDB-GT.pkl'))
    path = str(tmp_path / 'jhmdb.csv')
    write_csv_rows(act_to_csv(act), path)
    rows = read_csv_rows(path)
    assert len(rows) == sum(act['nframes'].values())  # one actor per frame in JHMDB
    again = csv_to_act(rows, labels=act['labels'], nframes=act['nframes'],
                       resolution=act['resolution'], train_videos=act['train_videos'],
                       test_videos=act['test_videos'], source=path)
    assert_act_equal(again, act)


def test_csv_to_act_splits_gaps_labels_and_defaults(tmp_path):
    path = tmp_path / 'boxes.csv'
    path.write_text('video,frame,x1,y1,x2,y2,label,actor_id\n'
                    'a,1,0,0,10,10,run,p1\n'
                    'a,2,1,0,11,10,run,p1\n'
                    'a,4,3,0,13,10,run,p1\n'  # frame 3 missing: a second tube
                    'a,2,20,20,30,30,jump,p2\n'
                    'a,3,20,20,30,30,run,p2\n'  # p2 changes action: one tube per label
                    'b,5,1,1,2,2,jump,x\n')
    act = csv_to_act(read_csv_rows(path), resolution=(48, 64), test_videos=['b'])
    assert act['labels'] == ['jump', 'run']
    assert act['nframes'] == {'a': 4, 'b': 5}
    assert act['train_videos'] == [['a']] and act['test_videos'] == [['b']]
    run = act['gttubes']['a'][1]
    assert [t[:, 0].tolist() for t in run] == [[1, 2], [4], [3]]
    assert act['gttubes']['a'][0][0][:, 0].tolist() == [2]
    # a user's own dataset in the ACT format, straight into the dataset class
    dump_act(act, tmp_path / 'gt.pkl')
    assert len(ACTDataset(str(tmp_path / 'gt.pkl'), clip_len=2)) == 4


@pytest.mark.parametrize('text,message', [
    ('a,1,0,0,10,10,run,p1\na,1,0,0,12,10,run,p1\n',
     "video 'a' actor 'p1' has frame 1 annotated twice"),
    ('a,1,0,0,10,10,swim,p1\n', "video 'a' frame 1: unknown label 'swim'"),
    ('a,1,0,0,10,10,run\n', r'boxes.csv:1: expected 8 fields'),
    ('a,one,0,0,10,10,run,p1\n', 'boxes.csv:1: invalid literal'),
])
def test_csv_errors_name_the_row(tmp_path, text, message):
    path = tmp_path / 'boxes.csv'
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        csv_to_act(read_csv_rows(path), labels=['run'], resolution=(48, 64), source=str(path))


def test_csv_frames_outside_nframes(tmp_path):
    rows = [('a', 9, 0., 0., 5., 5., 'run', '1')]
    # The one ACT checker's wording (structures/act_format.py): kind, video, frame, what.
    with pytest.raises(ValueError, match=r"CSV: 1 problem\(s\):\n  \[frame_range\] video 'a' "
                       r'frame 9: tube 0 of label 0 has 1 frames outside 1..5: 9'):
        csv_to_act(rows, nframes={'a': 5}, resolution=(48, 64))


def test_multisports_real_gt(shared_data, tmp_path):
    path = osp.join(shared_data, 'multisports', 'gt.pkl')
    raw = safe_pickle_load(path)
    act = multisports_to_act(raw, source=path)
    assert act['test_videos'] == [['aerobic_gymnastics/v_crsi07chcV8_c004']]
    assert act['train_videos'] == [[]]  # the sample is a test-only file
    assert len(act['labels']) == 66
    video = act['test_videos'][0][0]
    for label, tubes in raw['gttubes'][video].items():
        for ours, theirs in zip(act['gttubes'][video][int(label)], tubes):
            np.testing.assert_array_equal(ours, theirs.astype(np.float32))
    dump_act(act, tmp_path / 'ms.pkl')
    assert_act_equal(load_act(tmp_path / 'ms.pkl'), act)
    test = ACTDataset(str(tmp_path / 'ms.pkl'), clip_len=7, test_mode=True)
    assert len(test) == 725


def test_multisports_bad_input():
    act = small_act()
    del act['resolution']
    with pytest.raises(ValueError, match='ms.pkl: not a MultiSports/ACT ground truth, lacks '
                       'resolution'):
        multisports_to_act(act, source='ms.pkl')
    act = small_act()
    act['gttubes']['cls/video_0'][7] = act['gttubes']['cls/video_0'].pop(0)
    with pytest.raises(ValueError, match=r"\[label_range\] video 'cls/video_0': label 7 is not "
                       'an index into the 2 labels'):
        multisports_to_act(act)


def run_tool(name: str, *args: str) -> None:
    """Run a thin command-line tool in this process."""
    with mock.patch.object(sys, 'argv', [name, *args]):
        runpy.run_path(osp.join(REPO, 'tools', 'data', name), run_name='__main__')


def test_convert_csv_tool(tmp_path):
    frames = tmp_path / 'frames'
    for f in (1, 2, 3):
        (frames / 'v').mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(frames / 'v' / f'{f:05d}.jpg'), np.zeros((24, 32, 3), np.uint8))
    (tmp_path / 'boxes.csv').write_text('v,1,0,0,10,10,run,p1\nv,2,0,0,10,10,run,p1\n')
    (tmp_path / 'labels.txt').write_text('jump\nrun\n')
    run_tool('convert_csv.py', str(tmp_path / 'boxes.csv'), str(tmp_path / 'gt.pkl'),
             '--frames-root', str(frames), '--labels', str(tmp_path / 'labels.txt'))
    act = load_act(tmp_path / 'gt.pkl')
    assert act['resolution'] == {'v': (24, 32)} and act['nframes'] == {'v': 3}
    assert list(act['gttubes']['v']) == [1]


def test_convert_multisports_tool(shared_data, tmp_path):
    run_tool('convert_multisports.py', osp.join(shared_data, 'multisports', 'gt.pkl'),
             str(tmp_path / 'out' / 'gt.pkl'))
    assert load_act(tmp_path / 'out' / 'gt.pkl')['nframes'] == {
        'aerobic_gymnastics/v_crsi07chcV8_c004': 725}
