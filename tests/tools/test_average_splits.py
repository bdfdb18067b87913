"""tools/analysis/average_splits.py: JHMDB-21's three splits averaged, and the split options."""
import json
import os.path as osp

import pytest
from mmengine.config import Config
from tool_helpers import REPO_ROOT, load_tool

average_splits = load_tool('analysis/average_splits.py')


def test_average_by_hand(tmp_path, capsys):
    splits = [
        {'act/frame_mAP@0.5': 0.70, 'act/video_mAP@0.2': 0.80, 'act/video_mAP@0.5': 0.60,
         'only_here': 1.0},
        {'act/frame_mAP@0.5': 0.74, 'act/video_mAP@0.2': 0.86, 'act/video_mAP@0.5': 0.66},
        {'act/frame_mAP@0.5': 0.78, 'act/video_mAP@0.2': 0.92, 'act/video_mAP@0.5': 0.69},
    ]
    files = []
    for i, metrics in enumerate(splits, 1):
        path = tmp_path / f'split{i}' / 'metrics.json'
        path.parent.mkdir()
        path.write_text(json.dumps(metrics))
        files.append(str(path))
    out = tmp_path / 'mean.json'
    assert average_splits.main([*files, '--out', str(out)]) == 0
    mean = json.loads(out.read_text())['mean']
    # (0.70 + 0.74 + 0.78) / 3 = 0.74; (0.80 + 0.86 + 0.92) / 3 = 0.86;
    # (0.60 + 0.66 + 0.69) / 3 = 0.65; 'only_here' is not in every split.
    assert mean == pytest.approx({'act/frame_mAP@0.5': 0.74, 'act/video_mAP@0.2': 0.86,
                                  'act/video_mAP@0.5': 0.65})
    printed = capsys.readouterr().out
    assert '| act/video_mAP@0.5 | 0.6000 | 0.6600 | 0.6900 | 0.6500 |' in printed


def test_options_reach_datasets_and_evaluators(capsys):
    path = osp.join(REPO_ROOT, 'configs', 'point3d_jhmdb.py')
    cfg = Config.fromfile(path)
    assert cfg.split == 1
    assert {cfg.train_dataloader.dataset.split, cfg.test_dataloader.dataset.split,
            *[e.split for e in cfg.test_evaluator], *[e.split for e in cfg.val_evaluator]} == {1}
    assert average_splits.main(['--options-for', '2', path]) == 0
    options = capsys.readouterr().out.split()
    cfg.merge_from_dict({k: int(v) for k, v in (o.split('=') for o in options)})
    splits = {cfg.train_dataloader.dataset.split, cfg.val_dataloader.dataset.split,
              cfg.test_dataloader.dataset.split, *[e.split for e in cfg.val_evaluator],
              *[e.split for e in cfg.test_evaluator]}
    assert splits == {2} and cfg.split == 2


def test_ucf24_reports_table1_thresholds():
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'point3d_ucf24.py'))
    video = [e for e in cfg.test_evaluator if e.type == 'VideoMAP'][0]
    assert tuple(video.iou_thrs) == (0.1, 0.2, 0.5, 0.75)
    assert video.split == cfg.split == cfg.test_dataloader.dataset.split == 1
