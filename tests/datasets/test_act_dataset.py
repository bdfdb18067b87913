import os
import os.path as osp
import pickle
from unittest import mock

import cv2
import numpy as np
import pytest
import torch
from dataset_helpers import TINY, frames_for, small_act, write_py2_pickle
from mmengine.logging import MMLogger

from point3d_mm.datasets import ACTDataset, clip_frame_ids
from point3d_mm.structures.act_format import dump_act, load_act
from point3d_mm.structures.geometry import box_knots

PIPELINE = [dict(type='LoadClipFrames'), dict(type='PackPoint3DInputs')]


def test_clip_frame_ids_clamp_and_key_position():
    assert clip_frame_ids(3, 10, 5, 1, 'last') == [1, 1, 1, 2, 3]
    assert clip_frame_ids(9, 10, 5, 2, 'center') == [5, 7, 9, 10, 10]
    assert clip_frame_ids(1, 1, 3) == [1, 1, 1]


def test_py2_protocol0_pickle_loads(tmp_path):
    """The public files' exact form: protocol 0, py2 str, np.int64 label keys."""
    path = str(tmp_path / 'gt.pkl')
    write_py2_pickle(small_act(), path)
    assert open(path, 'rb').read(4) == b'(dp0'  # protocol 0, as JHMDB-GT.pkl
    act = load_act(path)
    assert act['labels'] == ['walk', 'jump'] and all(type(n) is str for n in act['labels'])
    assert [type(k) for v in act['gttubes'].values() for k in v] == [int, int, int]
    assert act['gttubes']['cls/video_1'][1][0].dtype == np.float32
    assert act['resolution']['cls/video_0'] == (64, 80)

    train = ACTDataset(path, split=1, clip_len=3)
    test = ACTDataset(path, split=1, clip_len=3, test_mode=True)
    assert train.metainfo['classes'] == ('walk', 'jump')
    assert len(train) == 20 and len(test) == 10
    assert train.get_data_info(10)['gt_label'] == 1
    info = test.get_data_info(0)
    assert info['video'] == 'cls/video_2' and info['frame_ids'] == [1, 1, 1]
    assert info['gt_label'] == 0
    # frame 1 repeated at three clip positions: one box per position
    np.testing.assert_array_equal(info['gt_frame_inds'], [0, 1, 2])
    np.testing.assert_allclose(info['gt_bboxes'], [[13, 12, 41, 50]] * 3)


def test_real_jhmdb_and_ucf24_pickles(shared_data):
    jhmdb = osp.join(shared_data, 'act', 'JHMDB-GT.pkl')
    act = load_act(jhmdb)
    for split in (1, 2, 3):
        test = ACTDataset(jhmdb, split=split, clip_len=7, test_mode=True)
        videos = act['test_videos'][split - 1]
        assert len(test) == sum(act['nframes'][v] for v in videos)
        assert len(test.metainfo['classes']) == 21
    train = ACTDataset(jhmdb, split=1, clip_len=7)
    # one tube per JHMDB video covering every frame: every frame is a training clip
    assert len(train) == sum(act['nframes'][v] for v in act['train_videos'][0])
    info = train.get_data_info(100)
    assert info['ori_shape'] == (240, 320) and info['gt_bboxes'].shape == (7, 4)
    assert (info['gt_labels'] == info['gt_label']).all()

    ucf = osp.join(shared_data, 'act', 'ucf24_v2_gt_sample.pkl')
    test = ACTDataset(ucf, split=2, clip_len=7, key_frame='center', test_mode=True)
    assert len(test) == load_act(ucf)['nframes']['SalsaSpin/v_SalsaSpin_g11_c02']
    info = test.get_data_info(50)
    assert info['gt_label'] == test.metainfo['classes'].index('SalsaSpin')
    assert info['key_frame_index'] == 3 and info['frame_ids'][3] == 51


def test_tiny_synthetic_through_pipeline(tiny_synthetic):
    frames_root = tiny_synthetic['frames']
    clip_len = 4
    dataset = ACTDataset(tiny_synthetic['act'], pipeline=PIPELINE, clip_len=clip_len,
                         data_prefix=dict(img=frames_root))
    act = load_act(tiny_synthetic['act'])
    annotated = sum(len({int(f) for ts in act['gttubes'][v].values() for t in ts
                         for f in t[:, 0]}) for v in act['train_videos'][0])
    assert len(dataset) == annotated
    sample = dataset[0]
    inputs, data_sample = sample['inputs'], sample['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, clip_len, 64, 64)
    gt = data_sample.gt_instances
    assert gt.bboxes.dtype == torch.float32 and gt.labels.dtype == torch.int64
    assert gt.frame_inds.dtype == torch.int64 and gt.track_ids.dtype == torch.int64
    assert gt.knots.shape == (len(gt), 4, 2)
    assert (clip_len - 1) in gt.frame_inds.tolist()  # an actor at the key frame
    np.testing.assert_allclose(gt.knots.numpy(), box_knots(gt.bboxes.numpy()))
    assert data_sample.gt_label.tolist() == [gt.labels[0].item()]
    meta = data_sample.metainfo
    assert meta['key_frame_index'] == clip_len - 1 and len(meta['frame_ids']) == clip_len
    assert meta['img_shape'] == meta['ori_shape'] == (64, 64)
    assert meta['scale_factor'] == (1., 1.) and meta['flip'] is False
    # the pixels are the frame files
    first = cv2.imread(osp.join(frames_root, meta['video'], f"{meta['frame_ids'][0]:05d}.jpg"))
    np.testing.assert_array_equal(inputs[:, 0].permute(1, 2, 0).numpy(), first)

    test = ACTDataset(tiny_synthetic['act'], clip_len=clip_len, test_mode=True,
                      data_prefix=dict(img=frames_root))
    assert len(test) == sum(act['nframes'][v] for v in act['test_videos'][0])


def test_video_file_frames_match_sequential_decoding(shared_data, tmp_path):
    """Clips from a real H.264 video: seeks and forward reads give the same frames."""
    act = dict(labels=['person'], gttubes={'demo': {0: [np.array([[1, 10, 10, 50, 60]],
                                                                  np.float32)]}},
               nframes={'demo': 280}, resolution={'demo': (256, 340)},
               train_videos=[['demo']], test_videos=[['demo']])
    dump_act(act, tmp_path / 'gt.pkl')
    dataset = ACTDataset(str(tmp_path / 'gt.pkl'), pipeline=[dict(type='LoadClipFrames')],
                         data_prefix=dict(video=osp.join(shared_data, 'videos')),
                         clip_len=3, frame_interval=2, test_mode=True)
    cap = cv2.VideoCapture(osp.join(shared_data, 'videos', 'demo.mp4'))
    sequential = [cap.read()[1] for _ in range(200)]
    for key in (150, 5, 6, 120, 199):  # backwards, forwards, far: seek and read-ahead
        results = dataset[key - 1]
        assert results['frame_ids'] == [max(1, key - 4), max(1, key - 2), key]
        for frame_id, img in zip(results['frame_ids'], results['imgs']):
            np.testing.assert_array_equal(img, sequential[frame_id - 1])


# ---------------------------------------------------------------- bad input: one clear error


def test_missing_frame_file(tmp_path):
    act = small_act()
    write_py2_pickle(act, tmp_path / 'gt.pkl')
    frames_for(act, str(tmp_path / 'frames'))
    missing = tmp_path / 'frames' / 'cls' / 'video_0' / '00002.jpg'
    os.remove(missing)
    dataset = ACTDataset(str(tmp_path / 'gt.pkl'), pipeline=PIPELINE, clip_len=3,
                         data_prefix=dict(img=str(tmp_path / 'frames')))
    dataset[0]  # frame 1 only
    with pytest.raises(FileNotFoundError, match=f'frame file {missing} does not exist'):
        dataset[1]


@pytest.mark.parametrize('damage,message', [
    (lambda data: b'not a jpeg at all' * 10, 'cannot be decoded as an image'),
    (lambda data: data[:len(data) * 3 // 4], 'cannot be decoded as an image'),
])
def test_corrupt_jpg(tmp_path, damage, message):
    act = small_act()
    write_py2_pickle(act, tmp_path / 'gt.pkl')
    frames_for(act, str(tmp_path / 'frames'))
    bad = tmp_path / 'frames' / 'cls' / 'video_0' / '00003.jpg'
    bad.write_bytes(damage(bad.read_bytes()))
    dataset = ACTDataset(str(tmp_path / 'gt.pkl'), pipeline=PIPELINE, clip_len=3,
                         data_prefix=dict(img=str(tmp_path / 'frames')))
    with pytest.raises(ValueError, match=f'frame file {bad} {message}'):
        dataset[2]


def test_frame_size_differs_from_resolution(tmp_path):
    act = small_act()
    write_py2_pickle(act, tmp_path / 'gt.pkl')
    act['resolution'] = {v: (32, 32) for v in act['resolution']}
    frames_for(act, str(tmp_path / 'frames'))
    dataset = ACTDataset(str(tmp_path / 'gt.pkl'), pipeline=PIPELINE, clip_len=3,
                         data_prefix=dict(img=str(tmp_path / 'frames')))
    with pytest.raises(ValueError, match=r'00001.jpg: frame is 32x32 \(w x h\) but the '
                       r'annotation gives resolution \(h, w\) = \(64, 80\)'):
        dataset[0]


def test_pickle_missing_key(tmp_path):
    act = small_act()
    del act['nframes']
    path = str(tmp_path / 'gt.pkl')
    write_py2_pickle(act, path)
    with pytest.raises(ValueError, match=f"{path}: ACT annotation pickle lacks key"
                       r"\(s\) 'nframes'"):
        ACTDataset(path)


def test_pickle_not_a_dict_or_truncated(tmp_path):
    path = tmp_path / 'gt.pkl'
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match='an ACT annotation pickle holds a dict'):
        ACTDataset(str(path))
    path.write_bytes(pickle.dumps(small_act())[:50])
    with pytest.raises(ValueError, match='not a readable pickle'):
        ACTDataset(str(path))


def test_tube_outside_frame_range(tmp_path):
    act = small_act()
    act['gttubes']['cls/video_0'][np.int64(0)][0][-1, 0] = 11  # nframes is 10
    path = str(tmp_path / 'gt.pkl')
    write_py2_pickle(act, path)
    with pytest.raises(ValueError) as error:
        ACTDataset(path)
    assert str(error.value).startswith(
        f"{path}: [frame_range] video 'cls/video_0' frame 11: tube 0 of label 0 has 1 "
        'frames outside 1..10: 11')
    assert len(ACTDataset(path, on_bad='skip')) == 10  # video_1 only


def test_video_shorter_than_clip(tmp_path):
    act = small_act()
    act['nframes']['cls/video_1'] = 5
    act['gttubes']['cls/video_1'][np.int64(1)][0] = act['gttubes']['cls/video_1'][
        np.int64(1)][0][:5]
    path = str(tmp_path / 'gt.pkl')
    write_py2_pickle(act, path)
    with pytest.raises(ValueError, match=f"{path}: video 'cls/video_1' has 5 frames, fewer "
                       "than clip_len=8 \\(pass on_short='skip' or 'clamp' to go on\\)"):
        ACTDataset(path, clip_len=8)
    with mock.patch.object(MMLogger.get_current_instance(), 'warning') as warning:
        dataset = ACTDataset(path, clip_len=8, on_short='skip')
    assert len(dataset) == 10  # video_0 only
    warning.assert_called_once()
    assert warning.call_args[0][0].startswith(
        f"skipped: {path}: video 'cls/video_1' has 5 frames, fewer than clip_len=8")
    with pytest.raises(ValueError, match=f"{path}: no clips in split 1 of 'train_videos' "
                       r'\(2 videos, 2 skipped\)'):
        ACTDataset(path, clip_len=11, on_short='skip')
    clamped = ACTDataset(path, clip_len=8, on_short='clamp')
    assert len(clamped) == 15
    assert clamped.get_data_info(14)['frame_ids'] == [1, 1, 1, 1, 2, 3, 4, 5]


def test_split_out_of_range_and_bad_options(tmp_path):
    path = str(tmp_path / 'gt.pkl')
    write_py2_pickle(small_act(), path)
    with pytest.raises(ValueError, match="split 2 requested but 'train_videos' has 1"):
        ACTDataset(path, split=2)
    with pytest.raises(ValueError, match="key_frame must be one of"):
        ACTDataset(path, key_frame='first')
    with pytest.raises(ValueError, match="on_bad must be"):
        ACTDataset(path, on_bad='ignore')


def test_generated_pickle_roundtrip(tiny_synthetic, tmp_path):
    act = load_act(tiny_synthetic['act'])
    dump_act(act, tmp_path / 'again.pkl')
    again = load_act(tmp_path / 'again.pkl')
    assert again.keys() == act.keys() and again['nframes'] == act['nframes']
    assert TINY['num_train'] == len(again['train_videos'][0])


def test_jhmdb_joints_as_knots(tmp_path):
    """JHMDB-style joint files (pos_img, 2 x 15 x nframes, 1-based) become the knots, and a
    flip swaps left and right joints."""
    from scipy.io import savemat
    act = small_act()
    write_py2_pickle(act, tmp_path / 'gt.pkl')
    frames_for(act, str(tmp_path / 'frames'))
    for i, video in enumerate(act['nframes']):
        pos = np.zeros((2, 15, 10))
        pos[0] = np.arange(15)[:, None] + 1 + 100 * i  # x = joint index (+1: MATLAB)
        pos[1] = np.arange(1, 11)[None] + 1  # y = frame number
        (tmp_path / 'joints' / video).mkdir(parents=True)
        savemat(tmp_path / 'joints' / video / 'joint_positions.mat', dict(pos_img=pos))
    pipeline = [dict(type='LoadClipFrames'), dict(type='ClipRandomFlip', prob=1.0),
                dict(type='PackPoint3DInputs')]
    dataset = ACTDataset(str(tmp_path / 'gt.pkl'), pipeline=pipeline, clip_len=3,
                         data_prefix=dict(img=str(tmp_path / 'frames')),
                         joints_root=str(tmp_path / 'joints'))
    info = dataset.get_data_info(4)  # video_0, key frame 5
    assert info['gt_knots'].shape == (3, 15, 2)
    np.testing.assert_allclose(info['gt_knots'][2, :, 0], np.arange(15))
    np.testing.assert_allclose(info['gt_knots'][:, 0, 1], [3, 4, 5])
    knots = dataset[4]['data_samples'].gt_instances.knots.numpy()
    # flipped in an 80-pixel-wide frame; joint 3 (right shoulder) is now joint 4's mirror
    np.testing.assert_allclose(knots[2, 4, 0], 80 - 3)
    np.testing.assert_allclose(knots[2, 3, 0], 80 - 4)

    os.remove(tmp_path / 'joints' / 'cls/video_1' / 'joint_positions.mat')
    with pytest.raises(ValueError, match=f"video 'cls/video_1': joint file "
                       f"{tmp_path / 'joints' / 'cls/video_1'}/joint_positions.mat does not "
                       'exist'):
        ACTDataset(str(tmp_path / 'gt.pkl'), clip_len=3, joints_root=str(tmp_path / 'joints'))
