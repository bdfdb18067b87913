"""The JHMDB-21 / UCF101-24 preparation scripts end to end, on a real video in their layouts.

Each script runs its tools in fresh interpreters (seconds of imports each): marked slow.
"""
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest

from point3d_mm.structures.act_format import load_act

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_script(name, *args):
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(['bash', osp.join(REPO_ROOT, 'tools', 'data', name), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def link_video(shared_data, videos, name):
    """``<videos>/<name>.avi`` -> the real 164-frame 320x240 test.avi."""
    os.makedirs(osp.dirname(osp.join(videos, name)), exist_ok=True)
    os.symlink(osp.join(shared_data, 'videos', 'test.avi'), osp.join(videos, name + '.avi'))


@pytest.mark.slow
def test_prepare_jhmdb(shared_data, tmp_path):
    video = 'brush_hair/a_video'
    act = dict(labels=['brush_hair'], gttubes={video: {0: [np.array(
        [[f, 10, 10, 100, 200] for f in range(1, 165)], np.float32)]}},
        nframes={video: 164}, resolution={video: (240, 320)}, train_videos=[[video]],
        test_videos=[[]])
    gt = tmp_path / 'JHMDB-GT.pkl'
    gt.write_bytes(pickle.dumps(act, protocol=2))
    link_video(shared_data, tmp_path / 'videos', video)
    out = tmp_path / 'jhmdb'
    done = run_script('jhmdb/prepare_jhmdb.sh', gt, tmp_path / 'videos', out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '1/1 videos OK, 164 frames' in done.stdout and 'clean (annotations and frames)' \
        in done.stdout
    assert sorted(os.listdir(out / 'Frames' / video))[::163] == ['00001.png', '00164.png']


@pytest.mark.slow
def test_prepare_ucf24_reports_count_mismatch_by_video(shared_data, tmp_path):
    """Corrected-annotation layout with two videos: one decodes to its numf (164), the other
    is annotated with 170 frames: the script goes on and names it."""
    good, bad = 'Biking/v_Biking_g01_c01', 'Biking/v_Biking_g09_c01'
    annotation = dict(sf=0, ef=3, label=0, boxes=np.array([[5, 5, 50, 80]] * 3, np.uint8))
    corrected = dict(db={good: dict(numf=np.uint8(164), label=0, annotations=[annotation]),
                         bad: dict(numf=np.uint8(170), label=0, annotations=[annotation])},
                     trainvideos=[bad], classes=['Biking'])
    annots = tmp_path / 'corrected'
    annots.mkdir()
    (annots / 'pyannot_with_class_names.pkl').write_bytes(pickle.dumps(corrected))
    (annots / 'testlist01.txt').write_text(good + '\n')
    for video in (good, bad):
        link_video(shared_data, tmp_path / 'UCF-101', video)
    out = tmp_path / 'ucf24'
    done = run_script('ucf24/prepare_ucf24.sh', tmp_path / 'UCF-101', annots, out)
    assert done.returncode == 1
    assert ("problem: video 'Biking/v_Biking_g09_c01': 164 frames extracted, the "
            "annotation's nframes is 170") in done.stdout
    assert "[frames_missing] video 'Biking/v_Biking_g09_c01' frame 165" in done.stdout
    assert not [line for line in done.stdout.splitlines()
                if good in line and (line.startswith('problem') or line.startswith('['))]
    act = load_act(out / 'UCF101v2-GT.pkl')
    assert act['test_videos'] == [[good]] and act['train_videos'] == [[bad]]
