"""The corrected UCF101-24 annotations converted to ACT, checked against the real ACT sample."""
import os.path as osp
import pickle

import numpy as np
import pytest

from point3d_mm.datasets.preparation.dataset_check import validate_act
from point3d_mm.datasets.preparation.ucf24_corrected import (
    annotation_to_tube,
    corrected_to_act,
    load_corrected_annotations,
    read_name_list,
)
from point3d_mm.structures.act_format import load_act
from point3d_mm.utils.safe_pickle import safe_pickle_load

#: The 6 videos of ``trainvideos`` that ``db`` does not annotate.
UNANNOTATED_TRAIN = ['Diving/v_Diving_g19_c02', 'TrampolineJumping/v_TrampolineJumping_g08_c02',
                     'TrampolineJumping/v_TrampolineJumping_g08_c03',
                     'TrampolineJumping/v_TrampolineJumping_g08_c04',
                     'VolleyballSpiking/v_VolleyballSpiking_g11_c04',
                     'VolleyballSpiking/v_VolleyballSpiking_g17_c04']


def _paths(shared_data):
    root = osp.join(shared_data, 'ucf24_corrected')
    return osp.join(root, 'pyannot_with_class_names.pkl'), osp.join(root, 'testlist01.txt')


@pytest.fixture(scope='module')
def converted(shared_data):
    """The converted full file, its dropped videos and the raw annotations (once)."""
    pkl, testlist = _paths(shared_data)
    annots = load_corrected_annotations(pkl)
    act, dropped = corrected_to_act(annots, read_name_list(testlist), source=pkl)
    return dict(act=act, dropped=dropped, annots=annots)


def test_reproduces_the_real_act_sample_exactly(shared_data, converted):
    sample = safe_pickle_load(osp.join(shared_data, 'act', 'ucf24_v2_gt_sample.pkl'))
    act = converted['act']
    assert act['labels'] == [str(name) for name in sample['labels']]
    assert len(sample['nframes']) == 3
    for video, tubes in sample['gttubes'].items():
        assert act['nframes'][video] == sample['nframes'][video]
        assert act['resolution'][video] == tuple(sample['resolution'][video]) == (240, 320)
        assert list(act['gttubes'][video]) == [int(label) for label in tubes]
        for label, label_tubes in tubes.items():
            ours = act['gttubes'][video][int(label)]
            assert len(ours) == len(label_tubes)
            for mine, theirs in zip(ours, label_tubes):  # same tubes, same order
                assert mine.dtype == theirs.dtype == np.float32
                np.testing.assert_array_equal(mine, theirs)  # to 0 pixels, same frames
    # SalsaSpin has 4 tubes, one of 6 frames; TrampolineJumping one starting at frame 150.
    assert [len(t) for t in act['gttubes']['SalsaSpin/v_SalsaSpin_g11_c02'][14]] == \
        [167, 6, 106, 37]
    assert act['gttubes']['TrampolineJumping/v_TrampolineJumping_g09_c05'][21][2][0, 0] == 150


def test_split_membership_follows_the_public_lists_where_the_sample_cannot(shared_data,
                                                                          converted):
    """The sample's splits were made for mmaction2's unit test, not taken from the ACT file.

    Its three identical splits list WalkingWithDog g05 c02 as a train video and SalsaSpin g11
    c02 as a test video; the public lists that the ACT file was made from say the opposite
    (and no UCF101 split has this pair of memberships together with TrampolineJumping g09 as
    train). Our converter follows the public lists; where the sample agrees with them
    (TrampolineJumping), membership is equal.
    """
    sample = safe_pickle_load(osp.join(shared_data, 'act', 'ucf24_v2_gt_sample.pkl'))
    act, annots = converted['act'], converted['annots']
    testlist = set(read_name_list(_paths(shared_data)[1]))
    walking, trampoline, salsa = ('WalkingWithDog/v_WalkingWithDog_g05_c02',
                                  'TrampolineJumping/v_TrampolineJumping_g09_c05',
                                  'SalsaSpin/v_SalsaSpin_g11_c02')
    assert sample['train_videos'] == [[walking, trampoline]] * 3
    assert sample['test_videos'] == [[salsa]] * 3
    # The public lists: Walking is a test video, Salsa and Trampoline train videos.
    assert walking in testlist and walking not in annots['trainvideos']
    assert salsa in annots['trainvideos'] and salsa not in testlist
    train, test = set(act['train_videos'][0]), set(act['test_videos'][0])
    assert trampoline in train and trampoline not in test  # as in the sample
    assert walking in test and salsa in train


def test_full_file_counts(converted):
    act, dropped = converted['act'], converted['dropped']
    assert len(act['nframes']) == len(act['gttubes']) == 3194
    assert len(act['labels']) == 24
    assert [len(s) for s in act['test_videos']] == [910]
    assert [len(s) for s in act['train_videos']] == [2284]  # 2290 listed - 6 unannotated
    assert dropped == UNANNOTATED_TRAIN
    assert not set(act['train_videos'][0]) & set(act['test_videos'][0])
    assert sum(len(t) for v in act['gttubes'].values() for t in v.values()) == 4458
    assert set(act['resolution'].values()) == {(240, 320)}
    assert validate_act(act) == []


def test_dump_and_load_round_trip(converted, tmp_path, run_tool, shared_data):
    pkl, testlist = _paths(shared_data)
    out = tmp_path / 'UCF101v2-GT.pkl'
    status, stdout, _ = run_tool('convert_ucf24_corrected', pkl, testlist, out)
    assert status == 0
    assert '3194 videos, 24 labels, 4458 tubes, 2284 train and 910 test videos' in stdout
    assert 'left out 6 listed videos without annotation' in stdout
    loaded = load_act(out)
    act = converted['act']
    assert loaded['test_videos'] == act['test_videos']
    video = 'SalsaSpin/v_SalsaSpin_g11_c02'
    for mine, back in zip(act['gttubes'][video][14], loaded['gttubes'][video][14]):
        np.testing.assert_array_equal(mine, back)


def test_uint8_boxes_do_not_wrap():
    # x + w - 1 = 200 + 100 - 1 = 299 > 255: uint8 arithmetic would give 43.
    annotation = dict(sf=4, ef=6, label=0,
                      boxes=np.array([[200, 1, 100, 50], [201, 2, 100, 50]], np.uint8))
    tube = annotation_to_tube(annotation, 'v', 0)
    np.testing.assert_array_equal(tube, [[5, 199, 0, 299, 50], [6, 200, 1, 300, 51]])


def test_boxes_not_matching_frames_name_video_and_annotation():
    annots = dict(db={'c/v1': dict(numf=10, label=0, annotations=[
        dict(sf=0, ef=5, label=0, boxes=np.ones((4, 4), np.uint8))])},
        trainvideos=['c/v1'], classes=['c'])
    with pytest.raises(ValueError, match=r"src.pkl: video 'c/v1' annotation 0: boxes have "
                       r'shape \(4, 4\), expected \(5, 4\)'):
        corrected_to_act(annots, [], source='src.pkl')


def test_bad_files_give_one_clear_message(shared_data, tmp_path):
    pkl = _paths(shared_data)[0]
    truncated = tmp_path / 'truncated.pkl'
    with open(pkl, 'rb') as f:
        truncated.write_bytes(f.read(5000))
    with pytest.raises(ValueError, match='truncated.pkl: not a readable pickle'):
        load_corrected_annotations(truncated)
    act_file = osp.join(shared_data, 'act', 'ucf24_v2_gt_sample.pkl')
    with pytest.raises(ValueError, match='ucf24_v2_gt_sample.pkl: not the corrected '
                       'UCF101-24 annotations'):
        load_corrected_annotations(act_file)
    listed = tmp_path / 'list.pkl'
    listed.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="list.pkl: .* got a list"):
        load_corrected_annotations(listed)
