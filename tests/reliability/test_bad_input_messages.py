"""Bad input to the tools ends in one clear line and a non-zero exit, not a traceback: a frame
folder without images, a checkpoint trained with another config, a bad CSV, a --cfg-options
key that names nothing."""
import os.path as osp

import pytest
import torch
from reliability_helpers import PYTHON, TINY_CONFIG, run_tool

from point3d_mm.apis import init_detector


def assert_one_clear_error(proc, *names):
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-4000:]
    last = proc.stderr.strip().splitlines()[-1]
    for name in names:
        assert name in last, last


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A checkpoint of the tiny config's model (random weights)."""
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    torch.save({'state_dict': init_detector(TINY_CONFIG).state_dict()}, path)
    return path


@pytest.mark.slow
def test_demo_on_a_folder_without_frames(tmp_path, checkpoint):
    empty = tmp_path / 'no_frames'
    empty.mkdir()
    (empty / 'notes.txt').write_text('not a frame')
    proc = run_tool([PYTHON, 'tools/demo.py', str(empty), TINY_CONFIG, checkpoint,
                     '--out-video', str(tmp_path / 'out.mp4'),
                     '--out-json', str(tmp_path / 'out.json')], check=False)
    assert_one_clear_error(proc, 'demo.py: ', str(empty), 'holds no frame images')
    assert not osp.exists(tmp_path / 'out.mp4') and not osp.exists(tmp_path / 'out.json')


def test_a_checkpoint_of_another_config_is_refused_naming_keys(tmp_path):
    """num_classes 6 in the config, 4 in the checkpoint; plus a key dropped and one added."""
    torch.manual_seed(0)
    other = init_detector(TINY_CONFIG, cfg_options={'model.cls_head.num_classes': 4})
    state = other.state_dict()
    mismatched = [k for k, v in init_detector(TINY_CONFIG).state_dict().items()
                  if tuple(v.shape) != tuple(state[k].shape)]
    assert mismatched
    dropped = next(iter(state))
    del state[dropped]
    state['extra_head.weight'] = torch.zeros(3)
    path = str(tmp_path / 'other_config.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(ValueError) as error:
        init_detector(TINY_CONFIG, path)
    message = str(error.value)
    assert path in message and 'does not fit the model of this config' in message
    assert mismatched[0] in message and dropped in message and 'extra_head.weight' in message
    assert 'sizes differ' in message and 'missing from the checkpoint' in message
    assert 'not in the model' in message


@pytest.mark.slow
def test_demo_refuses_a_checkpoint_of_another_config_before_reading_the_video(tmp_path):
    torch.manual_seed(0)
    other = init_detector(TINY_CONFIG, cfg_options={'model.cls_head.num_classes': 4})
    path = str(tmp_path / 'four_classes.pth')
    torch.save({'state_dict': other.state_dict()}, path)
    proc = run_tool([PYTHON, 'tools/demo.py', str(tmp_path / 'never_read.mp4'), TINY_CONFIG,
                     path, '--out-video', str(tmp_path / 'out.mp4')], check=False)
    assert_one_clear_error(proc, 'demo.py: ', path, 'sizes differ')
    assert 'detecting actions' not in proc.stdout


@pytest.mark.slow
def test_convert_csv_with_a_bad_row(tmp_path):
    csv = tmp_path / 'boxes.csv'
    csv.write_text('video,frame,x1,y1,x2,y2,label,actor_id\nv1,1,0,0,10,10,walk,0\n'
                   'v1,two,0,0,10,10,walk,0\n')
    proc = run_tool([PYTHON, 'tools/data/convert_csv.py', str(csv), str(tmp_path / 'gt.pkl'),
                     '--resolution', '240', '320'], check=False)
    assert_one_clear_error(proc, 'convert_csv.py: ', str(csv))
    assert not osp.exists(tmp_path / 'gt.pkl')


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['train', 'test'])
def test_a_cfg_options_key_naming_nothing(tool, tmp_path):
    extra = ['never_read.pth'] if tool == 'test' else []
    proc = run_tool([PYTHON, f'tools/{tool}.py', TINY_CONFIG, *extra, '--work-dir',
                     str(tmp_path), '--cfg-options', 'train_cfg.max_epoch=2'], check=False)
    assert_one_clear_error(proc, f'{tool}.py: ', 'train_cfg.max_epoch')


def test_a_validation_of_some_videos_warns_that_the_others_count_as_missed(tmp_path,
                                                                         monkeypatch):
    """A dataset limited with ``indices`` predicts some test videos; all are scored, with a
    warning (mmengine's logger) naming how many were predicted."""
    import numpy as np

    from point3d_mm.evaluation.metrics import FrameMAP, action_map
    from point3d_mm.structures.act_format import dump_act
    logged = []
    # The logger's stream was bound when an earlier test created it: read the calls instead.
    monkeypatch.setattr(action_map, 'print_log',
                        lambda msg, logger=None, level=20: logged.append((level, msg)))
    tube = np.array([[f, 10, 10, 50, 50] for f in range(1, 4)], np.float32)
    dump_act(dict(labels=['run'], gttubes={v: {0: [tube]} for v in 'abc'},
                  nframes=dict.fromkeys('abc', 3), resolution=dict.fromkeys('abc', (64, 64)),
                  train_videos=[[]], test_videos=[['a', 'b', 'c']]), tmp_path / 'gt.pkl')
    metric = FrameMAP(str(tmp_path / 'gt.pkl'), results_file=str(tmp_path / 'ap.json'))
    rows = np.array([[f, 0, 0.9, 10, 10, 50, 50] for f in range(1, 4)], np.float64)
    result = metric.compute_metrics([dict(video='a', rows=rows)])
    warnings = [msg for level, msg in logged if level == 30]
    assert len(warnings) == 1 and 'only 1 of the 3 test videos' in warnings[0]
    assert 'the other 2 are scored as missed' in warnings[0]
    assert result['frame_mAP@0.5'] == pytest.approx(1 / 3)  # all 3 videos are scored
    logged.clear()
    metric.compute_metrics([dict(video=v, rows=rows) for v in 'abc'])
    assert not [msg for level, msg in logged if 'test videos' in msg]


@pytest.mark.slow
def test_no_pkg_resources_deprecation_warning():
    """Not an error but noise every command printed: mmengine's is_installed (a config's
    ``mmaction::`` base) imports pkg_resources; point3d_mm silences its deprecation."""
    proc = run_tool([PYTHON, '-c', 'import point3d_mm\nfrom mmengine.utils import is_installed'
                     '\nassert is_installed("mmaction")'])
    assert 'pkg_resources' not in proc.stderr, proc.stderr


def test_tools_test_dump_writes_detections_eval_detections_rescores(tmp_path):
    """``tools/test.py --dump X`` with frame-/video-mAP metrics: the FrameMAP writes its frame
    detections to X, which tools/analysis/eval_detections.py scores to the same frame-mAP;
    other evaluators keep mmengine's DumpResults; a suffix neither can write is refused."""

    import numpy as np
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from tool_helpers import load_tool

    from point3d_mm.structures.act_format import dump_act
    test_tool = load_tool('test.py')
    dump = str(tmp_path / 'dets.npz')
    args = test_tool.parse_args([TINY_CONFIG, 'x.pth', '--work-dir', str(tmp_path),
                                 '--dump', dump])
    cfg = test_tool.merge_args(Config.fromfile(TINY_CONFIG), args)
    evaluator = [dict(m) for m in cfg.test_evaluator]
    assert [m['type'] for m in evaluator] == ['FrameMAP', 'VideoMAP']
    assert evaluator[0]['dump_detections'] == dump and 'dump_detections' not in evaluator[1]
    assert all('dump_detections' not in m for m in cfg.val_evaluator)

    # The FrameMAP of that config writes the file; eval_detections re-scores it.
    tube = np.array([[f, 10, 10, 50, 50] for f in range(1, 4)], np.float32)
    gt = str(tmp_path / 'gt.pkl')
    dump_act(dict(labels=['run', 'jump'], gttubes={'a': {0: [tube]}, 'b': {1: [tube]}},
                  nframes={'a': 3, 'b': 3}, resolution={'a': (64, 64), 'b': (64, 64)},
                  train_videos=[[]], test_videos=[['a', 'b']]), gt)
    init_default_scope('mmaction')
    from mmaction.registry import METRICS
    metric = METRICS.build(dict(evaluator[0], ann_file=gt, results_file=str(tmp_path / 'j')))
    rows = np.array([[f, 0, 0.9, 10, 10, 50, 50] for f in range(1, 4)], np.float64)
    scored = metric.compute_metrics([dict(video='a', rows=rows),
                                     dict(video='b', rows=rows[:2])])
    rescored = load_tool('analysis/eval_detections.py').main([gt, dump])
    assert rescored['act/frame_mAP@0.5'] == pytest.approx(scored['frame_mAP@0.5'])

    assert test_tool.evaluator_with_dump(dict(type='AVAMetric', ann_file='a.csv'),
                                         'p.pkl')[-1] == dict(type='DumpResults',
                                                              out_file_path='p.pkl')
    with pytest.raises(ValueError, match='--dump p.json: the predictions are dumped as'):
        test_tool.evaluator_with_dump([dict(type='AVAMetric')], 'p.json')
    with pytest.raises(ValueError, match=r'--dump d.txt: the frame detections of FrameMAP'):
        test_tool.evaluator_with_dump(cfg.test_evaluator, 'd.txt')
