"""docs/your_own_dataset.md, start to end, as a user with only that page would follow it.

The commands and the config are read from the page itself and run as subprocesses in a
scratch folder laid out as the page's (``my_videos/``, ``data/mine/``, ``configs/``,
``work_dirs/``); the only changes are those the page names: the absolute path of the base
config in ``_base_`` (the config is outside the repository) and the smoke test's checkpoint
for the commands that name the full run's.
"""
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import List

import cv2
import pytest

from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
from point3d_mm.structures.act_format import load_act

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(REPO, 'docs', 'your_own_dataset.md')
# The page's example videos and labels; the pictures are synthetic actions (3 classes).
RENDERED = ('walk_left', 'jump', 'sway')
LABELS = ('walk', 'jump', 'wave')
TRAIN = ('kitchen_01', 'kitchen_02', 'kitchen_03', 'kitchen_04')
TEST = ('hall_01', 'hall_02')
SMOKE_CHECKPOINT = 'work_dirs/my_smoke/epoch_1.pth'  # 1 epoch of the smoke test


def code_blocks(language: str) -> List[str]:
    """The page's fenced code blocks in ``language`` ('' for a plain ``` block)."""
    blocks, current, block_language = [], None, None
    with open(DOC) as f:
        for line in f:
            if line.startswith('```'):
                if current is None:
                    current, block_language = [], line[3:].strip()
                else:
                    if block_language == language:
                        blocks.append(''.join(current))
                    current = None
            elif current is not None:
                current.append(line)
    return blocks


def doc_command(start: str) -> List[str]:
    """The page's first shell command beginning with ``start``, as argv."""
    for block in code_blocks('bash'):
        for line in block.replace('\\\n', ' ').splitlines():
            if line.startswith(start):
                return shlex.split(line)
    raise AssertionError(f'{DOC} has no command starting with {start!r}')


def run(argv: List[str], cwd: str) -> str:
    """Run a documented command: ``python tools/...`` with this interpreter on the
    repository's tools, ``mim`` as ``python -m mim``."""
    if argv[0] == 'python':
        argv = [sys.executable, osp.join(REPO, argv[1]), *argv[2:]]
    elif argv[0] == 'mim':
        argv = [sys.executable, '-m', 'mim', *argv[1:]]
    proc = subprocess.run(argv, cwd=cwd, env=dict(os.environ, OMP_NUM_THREADS='1'),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f'{shlex.join(argv)} exited with {proc.returncode}\n'
                                  f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc.stdout + proc.stderr


def make_videos_and_csv(root: str) -> dict:
    """Six short mp4 videos in my_videos/ and their boxes in the page's CSV format."""
    gen = SyntheticActions(seed=0, num_train=len(TRAIN), num_test=len(TEST), min_frames=16,
                           max_frames=20, classes=RENDERED)
    os.makedirs(osp.join(root, 'my_videos'))
    header = next(block for block in code_blocks('') if block.startswith('video,'))
    rows, nframes = [header.splitlines()[0]], {}
    for name, synthetic in zip(TRAIN + TEST, sum(gen.video_names(), [])):
        frames, ann = gen.render_video(synthetic)
        nframes[name] = len(frames)
        writer = cv2.VideoWriter(osp.join(root, 'my_videos', f'{name}.mp4'),
                                 cv2.VideoWriter_fourcc(*'mp4v'), 8, frames[0].shape[1::-1])
        for frame in frames:
            writer.write(frame)
        writer.release()
        for actor, tube in enumerate(ann['tubes']):
            rows += [f'{name},{int(f)},{x1:.1f},{y1:.1f},{x2:.1f},{y2:.1f},'
                     f'{LABELS[ann["label"]]},p{actor}' for f, x1, y1, x2, y2 in tube]
    for path, lines in (('boxes.csv', rows), ('labels.txt', LABELS), ('test.txt', TEST)):
        with open(osp.join(root, path), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return nframes


def write_config(root: str) -> None:
    """The page's config as configs/my_actions.py, its base by absolute path."""
    config = next(block for block in code_blocks('python')
                  if block.startswith('# configs/my_actions.py'))
    relative_base = "_base_ = ['./point3d_tiny_synthetic.py']"
    assert relative_base in config
    config = config.replace(relative_base, '_base_ = [{!r}]'.format(
        osp.join(REPO, 'configs', 'point3d_tiny_synthetic.py')))
    assert f'num_classes = {len(LABELS)}' in config
    os.makedirs(osp.join(root, 'configs'))
    with open(osp.join(root, 'configs', 'my_actions.py'), 'w') as f:
        f.write(config)


def with_smoke_checkpoint(argv: List[str]) -> List[str]:
    checkpoints = [arg for arg in argv if arg.endswith('.pth')]
    assert len(checkpoints) == 1, argv
    return [SMOKE_CHECKPOINT if arg.endswith('.pth') else arg for arg in argv]


@pytest.mark.slow
def test_your_own_dataset_page_end_to_end(tmp_path):
    root = str(tmp_path)
    nframes = make_videos_and_csv(root)

    # 1. Frames
    run(doc_command('python tools/data/extract_frames.py'), root)
    for name, count in nframes.items():
        assert len(os.listdir(osp.join(root, 'data', 'mine', 'frames', name))) == count

    # 2. The ground truth, from the CSV
    run(doc_command('python tools/data/convert_csv.py'), root)
    act = load_act(osp.join(root, 'data', 'mine', 'gt.pkl'))
    assert act['labels'] == list(LABELS) and act['nframes'] == nframes
    assert sorted(act['test_videos'][0]) == sorted(TEST)
    assert sorted(act['train_videos'][0]) == sorted(TRAIN)

    # 3. Validate
    assert 'clean' in run(doc_command('python tools/data/validate_dataset.py'), root)

    # 4. The config; 5. train (the 2-iteration smoke test), test, run the demo
    write_config(root)
    smoke = doc_command('mim train point3d_mm configs/my_actions.py --work-dir '
                        'work_dirs/my_smoke')
    assert 'Epoch(train) [1][2/2]' in run(smoke, root)  # 16 clips, batch 8: 2 iterations
    assert osp.exists(osp.join(root, SMOKE_CHECKPOINT))

    test = with_smoke_checkpoint(doc_command('mim test point3d_mm configs/my_actions.py'))
    run(test, root)
    with open(osp.join(root, test[test.index('--out-metrics') + 1])) as f:
        metrics = json.load(f)
    for key in ('act/frame_mAP@0.5', 'act/video_mAP@0.2', 'act/video_mAP@0.5'):
        assert 0 <= metrics[key] <= 1, metrics

    demo = with_smoke_checkpoint(doc_command('python tools/demo.py'))
    run(demo, root)
    video = demo[demo.index('--out-video') + 1]
    capture = cv2.VideoCapture(osp.join(root, video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == nframes[osp.basename(demo[2])]
    capture.release()
    with open(osp.join(root, demo[demo.index('--out-json') + 1])) as f:
        assert json.load(f)['classes'] == list(LABELS)
