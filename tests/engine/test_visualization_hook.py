"""tools/test.py --show-dir / --show (what ``mim test ... --show-dir`` runs): the registered
Point3DLocalVisualizer and Point3DVisualizationHook draw every test video of a tiny
synthetic set, through the cached-feature test loop and mmengine's clip-mode loop."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmaction.registry import HOOKS, VISUALIZERS
from mmengine.config import Config
from tool_helpers import load_tool, read_video

from point3d_mm.datasets.preparation.synthetic_actions import CLASSES, SyntheticActions
from point3d_mm.structures.act_format import load_act

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'point3d_tiny_synthetic.py')
SIZE = 64  # the synthetic frames; drawn at 512x512


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('vis_hook_data'))
    SyntheticActions(seed=1, num_train=1, num_test=2, size=SIZE, min_frames=10,
                     max_frames=14).generate(root)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    """Random weights whose boxes are about 24x24 input pixels (not points)."""
    from mmaction.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    with torch.no_grad():
        model.point_head.wh_head[-1].bias.fill_(6.0)
    path = str(tmp_path_factory.mktemp('vis_hook_ckpt') / 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def test_registered():
    assert VISUALIZERS.get('Point3DLocalVisualizer') is not None
    assert HOOKS.get('Point3DVisualizationHook') is not None


def test_test_py_parses_show_options():
    test = load_tool('test.py')
    args = test.parse_args(['c.py', 'k.pth', '--show-dir', 'vis', '--show', '--show-format',
                            'frames', '--wait-time', '0.5', '--show-score-thr', '0.3'])
    assert (args.show_dir, args.show, args.show_format, args.wait_time,
            args.show_score_thr) == ('vis', True, 'frames', 0.5, 0.3)
    cfg = Config(dict(visualizer=dict(type='ActionVisualizer', vis_backends=[
        dict(type='LocalVisBackend')]), default_hooks=dict(timer=dict(type='IterTimerHook'))))
    test.add_visualization(cfg, args)
    assert cfg.visualizer.type == 'Point3DLocalVisualizer'
    assert cfg.visualizer.vis_backends == [dict(type='LocalVisBackend')]
    hook = cfg.default_hooks.visualization
    assert hook.type == 'Point3DVisualizationHook' and hook.draw and hook.out_dir == 'vis'
    assert hook.out_format == 'frames' and hook.show and hook.score_thr == 0.3


def frames_of_test_videos(data_root) -> dict:
    gt = load_act(osp.join(data_root, 'synthetic_gt.pkl'))
    return {video: gt['nframes'][video] for video in gt['test_videos'][0]}


def run_test_py(data_root: str, checkpoint: str, work_dir: str, *options: str) -> None:
    gt = osp.join(data_root, 'synthetic_gt.pkl')
    test = load_tool('test.py')
    test.run(test.parse_args([
        TINY_CONFIG, checkpoint, '--work-dir', work_dir, '--show-score-thr', '0', *options,
        '--cfg-options', f'test_dataloader.dataset.data_root={data_root}',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        f'test_evaluator.0.ann_file={gt}', f'test_evaluator.1.ann_file={gt}',
        'default_hooks.logger.interval=1000']))


@pytest.mark.parametrize('cache', [True, False])
def test_show_dir_writes_one_annotated_mp4_per_test_video(data_root, checkpoint, tmp_path,
                                                          cache):
    """Cached loop (outputs, no data batch) and clip mode: one mp4 per test video under
    <work_dir>/<timestamp>/vis, a frame per test clip, 512x512, with boxes drawn."""
    run_test_py(data_root, checkpoint, str(tmp_path), '--show-dir', 'vis', '--cfg-options',
                f'test_cfg.cache_features={cache}')
    videos = sorted(glob.glob(str(tmp_path / '*' / 'vis' / '*.mp4')))
    expected = frames_of_test_videos(data_root)
    assert [osp.splitext(osp.basename(v))[0] for v in videos] == sorted(expected)
    for path in videos:
        frames = read_video(path)
        name = osp.splitext(osp.basename(path))[0]
        assert len(frames) == expected[name] and frames[0].shape == (512, 512, 3)
        raw = cv2.imread(osp.join(data_root, 'frames', name, '00005.jpg'))
        plain = cv2.resize(raw, (512, 512)).astype(int)
        # Boxes and labels (every tube drawn at --show-score-thr 0) change the frame.
        assert np.abs(frames[4].astype(int) - plain).max() > 100


def test_show_dir_frames_format(data_root, checkpoint, tmp_path):
    run_test_py(data_root, checkpoint, str(tmp_path), '--show-dir', str(tmp_path / 'jpgs'),
                '--show-format', 'frames')
    for video, nframes in frames_of_test_videos(data_root).items():
        files = sorted(glob.glob(str(tmp_path / 'jpgs' / video / '*.jpg')))
        assert [osp.basename(f) for f in files] == [f'{i:05d}.jpg'
                                                    for i in range(1, nframes + 1)]
        assert cv2.imread(files[0]).shape == (512, 512, 3)


def test_show_without_a_display_is_a_one_line_error(data_root, checkpoint, tmp_path,
                                                     monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    gt = osp.join(data_root, 'synthetic_gt.pkl')
    with pytest.raises(SystemExit) as exit_info:
        load_tool('test.py').main([
            TINY_CONFIG, checkpoint, '--work-dir', str(tmp_path), '--show', '--cfg-options',
            f'test_dataloader.dataset.data_root={data_root}', 'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False', f'test_evaluator.0.ann_file={gt}',
            f'test_evaluator.1.ann_file={gt}'])
    message = str(exit_info.value.code)
    assert message.startswith('test.py: NoDisplayError: ') and 'no display' in message


def test_visualizer_add_datasample_draws_a_clip(tmp_path):
    """mmengine's interface: an RGB key frame and a sample's pred_instances."""
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    visualizer = VISUALIZERS.build(dict(type='Point3DLocalVisualizer', name='vis_test',
                                        score_thr=0.3))
    visualizer.dataset_meta = dict(classes=list(CLASSES))
    sample = ActionDataSample()
    sample.set_metainfo(dict(frame_ids=[3, 4, 5], key_frame_index=2))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[10., 10., 40., 50.], [60., 60., 90., 90.]]),
        labels=torch.tensor([2, 0]), scores=torch.tensor([0.9, 0.1]))
    image = np.full((100, 128, 3), 90, np.uint8)
    out = str(tmp_path / 'clip.png')
    drawn = visualizer.add_datasample('clip', image, sample, out_file=out)
    assert drawn.shape == (400, 512, 3) and cv2.imread(out).shape == (400, 512, 3)
    # The confident box (x 40..160 at 4x) is drawn, the one below score_thr is not.
    assert (np.abs(drawn[200, 30:50].astype(int) - 90).max() > 50)
    assert np.abs(drawn[300:340, 260:340].astype(int) - 90).max() == 0
