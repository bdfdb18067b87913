"""Frame extraction from the real videos, checked against the decoder and read back."""
import os
import os.path as osp
import pickle

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from point3d_mm.datasets import ACTDataset
from point3d_mm.datasets.preparation.dataset_check import validate_act
from point3d_mm.datasets.preparation.frame_extraction import (
    count_frames,
    extract_videos,
    find_videos,
)
from point3d_mm.utils.video import FRAME_TMPL, OpenCVVideoReader, list_frames

#: name: (extension, frames, (h, w)) as OpenCV 5.1 and decord 0.6.0 report them.
VIDEOS = {'demo': ('.mp4', 280, (256, 340)), 'test': ('.avi', 164, (240, 320)),
          'test_video_structuralize': ('.mp4', 300, (240, 426))}


@pytest.fixture(scope='module')
def videos_dir(shared_data):
    return osp.join(shared_data, 'videos')


@pytest.fixture(scope='module')
def extracted(videos_dir, tmp_path_factory):
    """All frames of the three real videos, extracted once: (frames root, results)."""
    root = str(tmp_path_factory.mktemp('frames'))
    results = []
    for name, (ext, _, _) in VIDEOS.items():
        results += extract_videos(videos_dir, root, [name], ext)
    return root, results


def test_counts_equal_the_decoder_and_names_start_at_00001(extracted):
    root, results = extracted
    for result in results:
        ext, frames, _ = VIDEOS[result.video]
        assert (result.decoded, result.reported, result.error) == (frames, frames, None)
        names = sorted(os.listdir(osp.join(root, result.video)))
        assert names[0] == '00001.jpg' and names[-1] == f'{frames:05d}.jpg'
        assert len(names) == frames
    assert sorted(os.listdir(root)) == sorted(VIDEOS)  # no temporary folder left


def tiny_act(nframes):
    """An ACT dict over the real videos: one tube of label 0 on frames 1-3 of each."""
    return dict(labels=['person'],
                gttubes={v: {0: [np.array([[f, 10, 10, 60, 80] for f in (1, 2, 3)],
                                          np.float32)]} for v in VIDEOS},
                nframes=dict(nframes), resolution={v: VIDEOS[v][2] for v in VIDEOS},
                train_videos=[[]], test_videos=[sorted(VIDEOS)])


def test_read_back_through_act_dataset(extracted, videos_dir, tmp_path):
    root, _ = extracted
    act = tiny_act({v: VIDEOS[v][1] for v in VIDEOS})
    assert validate_act(act, root) == []  # folders complete, frames decodable, right size
    ann = tmp_path / 'gt.pkl'
    ann.write_bytes(pickle.dumps(act))
    init_default_scope('mmaction')
    dataset = ACTDataset(str(ann), pipeline=[dict(type='LoadClipFrames')],
                         data_prefix=dict(img=root), clip_len=3, test_mode=True)
    assert len(dataset) == 280 + 164 + 300  # one clip per frame of the test videos
    index = 280 + 99  # test videos in listed order: all of 'demo', then 'test' from frame 1
    assert (dataset.get_data_info(index)['video'], dataset.get_data_info(index)['key_frame']) \
        == ('test', 100)
    sample = dataset[index]
    assert sample['frame_ids'] == [98, 99, 100]
    decoded = OpenCVVideoReader(osp.join(videos_dir, 'test.avi')).read([98, 99, 100])
    for img, reference in zip(sample['imgs'], decoded):
        assert img.shape == reference.shape == (240, 320, 3)
        # JPEG quality 95: the frames read back differ from the decoder's by ~1 grey level.
        assert np.abs(img.astype(int) - reference).mean() < 2.5


def test_counts_checked_against_nframes_per_video(extracted, videos_dir, tmp_path):
    root, _ = extracted
    nframes = {'demo': 280, 'test': 160, 'test_video_structuralize': 300, 'missing': 10}
    # The three extracted folders are complete and kept; 'missing' has no video file.
    results = extract_videos(videos_dir, root, sorted(nframes), '.mp4', nframes)
    problems = [r.problem for r in results if r.problem]
    assert problems[0].startswith("video 'missing': video file ") and 'does not exist' in \
        problems[0]
    assert problems[1] == ("video 'test': 164 frames extracted, the annotation's nframes is "
                           '160')
    assert len(problems) == 2 and [r.reported for r in results] == [None, None, None, None]


def test_tool_extracts_and_reports_mismatches(videos_dir, tmp_path, run_tool):
    act = tiny_act({'demo': 280, 'test': 165, 'test_video_structuralize': 300})
    act['gttubes'] = {'test': act['gttubes']['test']}
    act['nframes'] = {'test': 165}
    ann = tmp_path / 'gt.pkl'
    ann.write_bytes(pickle.dumps(act))
    out = tmp_path / 'frames'
    status, stdout, _ = run_tool('extract_frames', videos_dir, out, '--ann-file', ann,
                                 '--ext', '.avi')
    assert status == 1
    assert 'test: 164 frames (container: 164)' in stdout
    assert ("problem: video 'test': 164 frames extracted, the annotation's nframes is 165 "
            '(the container reports 164)') in stdout
    assert count_frames(str(out / 'test')) == 164


def test_frame_folder_with_gaps_is_a_clear_error(tmp_path):
    folder = tmp_path / 'v'
    folder.mkdir()
    for frame in (1, 2, 3, 6, 8):
        (folder / f'{frame:05d}.jpg').write_bytes(b'')
    (folder / '7.jpg').write_bytes(b'')  # not named by the template: not a frame
    assert list_frames(str(folder), FRAME_TMPL) == [
        (1, '00001.jpg'), (2, '00002.jpg'), (3, '00003.jpg'), (6, '00006.jpg'), (8, '00008.jpg')]
    # a folder read as a video: every image, numbered in name order
    assert [name for _, name in list_frames(str(folder))] == [
        '00001.jpg', '00002.jpg', '00003.jpg', '00006.jpg', '00008.jpg', '7.jpg']
    assert [number for number, _ in list_frames(str(folder))] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError, match=r'frame folder .*v has gaps: frames 4-5, 7 are '
                       r'missing \(5 files up to 00008.jpg\)'):
        count_frames(str(folder))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        count_frames(str(tmp_path / 'nothing'))


def test_find_videos(videos_dir):
    assert find_videos(videos_dir, '.mp4') == ['demo', 'test_video_structuralize']
