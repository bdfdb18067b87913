"""tools/demo.py as a user runs it (a subprocess on an mp4), and the centre heatmap it draws
with --show-heatmap (point3d_mm.apis.center_heatmap), also through a letterbox."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tool_helpers import read_video

from point3d_mm.apis import center_heatmap, init_detector
from point3d_mm.visualization import select_tubes

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'point3d_tiny_synthetic.py')
CLASSES = ['walk_left', 'walk_right', 'jump', 'wave', 'squat', 'spin']
NUM_FRAMES, HEIGHT, WIDTH = 24, 72, 96  # not square: the 128x128 input is a resize
OUT_HEIGHT, OUT_WIDTH = 384, 512  # the demo draws at a long side of at least 512 pixels


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """A 24-frame 96x72 mp4 of a moving stick figure and a random-init checkpoint."""
    root = tmp_path_factory.mktemp('demo')
    video = str(root / 'walk.mp4')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), 8, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for t in range(NUM_FRAMES):
        frame = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
        x = 10 + 2 * t
        cv2.circle(frame, (x + 7, 14), 6, (200, 200, 255), -1)  # head
        cv2.rectangle(frame, (x, 20), (x + 14, 60), (220, 220, 220), -1)  # body
        writer.write(frame)
    writer.release()
    torch.manual_seed(0)
    model = init_detector(CONFIG)
    with torch.no_grad():  # boxes of about 24x24 input pixels rather than points
        model.point_head.wh_head[-1].bias.fill_(6.0)
    checkpoint = str(root / 'tiny.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, checkpoint)
    return root, video, checkpoint


def run_demo(inputs, name, *options, video=None, num_frames=NUM_FRAMES):
    """Run the demo (on the generated mp4 unless ``video`` is given); the written frames and
    the JSON."""
    root, generated, checkpoint = inputs
    video = video or generated
    out_video, out_json = str(root / f'{name}.mp4'), str(root / f'{name}.json')
    proc = subprocess.run(
        # --score-thr 0: the random-init model's tubes score far below the default 0.2.
        [sys.executable, 'tools/demo.py', video, CONFIG, checkpoint, '--out-video', out_video,
         '--out-json', out_json, '--score-thr', '0', *options],
        cwd=REPO, env=dict(os.environ, OMP_NUM_THREADS='1'), capture_output=True, text=True,
        timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    capture = cv2.VideoCapture(out_video)
    assert capture.isOpened(), f'{out_video} does not open'
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    frames = read_video(out_video)
    assert declared == len(frames) == num_frames
    with open(out_json) as f:
        return np.stack(frames), json.load(f)


@pytest.fixture(scope='module')
def outputs(inputs):
    return {name: run_demo(inputs, name, *options) for name, options in (
        ('clip', ()), ('heatmap', ('--show-heatmap', )), ('streaming', ('--streaming', )))}


@pytest.mark.slow
@pytest.mark.parametrize('name', ['clip', 'heatmap', 'streaming'])
def test_demo_writes_a_playable_video_and_the_tubes(outputs, inputs, name):
    frames, result = outputs[name]
    assert frames.shape == (NUM_FRAMES, OUT_HEIGHT, OUT_WIDTH, 3)
    assert result['video'] == inputs[1] and result['classes'] == CLASSES
    assert result['tubes'], 'the random-init model finds something to link'
    for tube in result['tubes']:
        assert {'id', 'label', 'class', 'score', 'frames', 'boxes'} <= set(tube)
        assert tube['class'] == CLASSES[tube['label']] and 0 <= tube['score'] <= 1
        assert len(tube['frames']) == len(tube['boxes']) > 0
        assert set(tube['frames']) <= set(range(1, NUM_FRAMES + 1))
        boxes = np.array(tube['boxes'])
        assert boxes.shape[1] == 4 and boxes.min() >= 0
        assert boxes[:, [0, 2]].max() <= WIDTH and boxes[:, [1, 3]].max() <= HEIGHT
        assert np.all(boxes[:, 2:] >= boxes[:, :2])


@pytest.mark.slow
def test_demo_on_a_real_video_of_people(inputs, shared_data):
    """A real Xvid avi (mmaction2's test.avi: 320x240, 164 frames, 25 fps): the whole video
    comes out, annotated, scaled to 512x384, and the JSON's boxes lie inside its 320x240
    frames."""
    video = osp.join(shared_data, 'videos', 'test.avi')
    frames, result = run_demo(inputs, 'real', '--streaming', video=video, num_frames=164)
    assert frames.shape == (164, 384, 512, 3)
    assert result['video'] == video and result['classes'] == CLASSES
    assert result['tubes'], 'with --score-thr 0 every linked tube is written'
    for tube in result['tubes']:
        boxes = np.array(tube['boxes'])
        assert set(tube['frames']) <= set(range(1, 165)) and len(boxes) == len(tube['frames'])
        assert boxes.min() >= 0 and boxes[:, [0, 2]].max() <= 320
        assert boxes[:, [1, 3]].max() <= 240


@pytest.mark.slow
def test_streaming_and_heatmap_runs_find_the_clip_mode_tubes(outputs):
    _, clip = outputs['clip']
    for name in ('streaming', 'heatmap'):
        tubes = outputs[name][1]['tubes']
        assert len(tubes) == len(clip['tubes'])
        for tube, ref in zip(tubes, clip['tubes']):
            assert (tube['label'], tube['frames']) == (ref['label'], ref['frames'])
            np.testing.assert_allclose(tube['boxes'], ref['boxes'], atol=0.05)


@pytest.mark.slow
def test_show_heatmap_draws_the_heatmap(outputs, inputs):
    plain, heat = outputs['clip'][0].astype(np.float32), outputs['heatmap'][0].astype(np.float32)
    # Same boxes (previous test), so every frame's difference is the blended heatmap.
    assert np.abs(heat - plain).mean(axis=(1, 2, 3)).min() > 10
    _, video, checkpoint = inputs
    model = init_detector(CONFIG, checkpoint)
    capture = cv2.VideoCapture(video)
    ok, frame = capture.read()
    capture.release()
    assert ok
    heatmap = center_heatmap(model, frame)
    assert heatmap.shape == (HEIGHT, WIDTH) and heatmap.dtype == np.float32
    assert heatmap.min() >= 0 and heatmap.max() <= 1 and heatmap.std() > 0


def test_center_heatmap_drops_the_letterbox(monkeypatch):
    """A 96x48 frame letterboxed into 128x128 (resized to 128x64, 32 rows of pad above and
    below): the heatmap is that of the 64 content rows, resized to 96x48."""
    torch.manual_seed(0)
    model = init_detector(CONFIG)
    pipeline = [dict(type='ClipResize', scale=128, keep_ratio=True, letterbox=True),
                dict(type='PackPoint3DInputs')]
    cfg = model.cfg.copy()
    cfg.test_pipeline = pipeline
    cfg.test_dataloader.dataset.pipeline = pipeline
    monkeypatch.setattr(model, 'cfg', cfg)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (48, 96, 3), dtype=np.uint8)
    frame[10:40, 30:50] = 230

    # The expectation by hand: letterbox, normalise (RGB, the config's mean/std), run.
    canvas = np.zeros((128, 128, 3), np.uint8)
    canvas[32:96] = cv2.resize(frame, (128, 64), interpolation=cv2.INTER_LINEAR)
    rgb = torch.from_numpy(canvas[..., ::-1].astype(np.float32)).permute(2, 0, 1)
    mean = torch.tensor([123.675, 116.28, 103.53])[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375])[:, None, None]
    with torch.no_grad():
        feats = model.extract_frame_feats(((rgb - mean) / std)[None])[-1]
        full = model.point_head((feats, ))[0][-1]
        full = F.interpolate(full, size=(128, 128), mode='bilinear',
                             align_corners=False)[0, 0].numpy()
    expected = cv2.resize(full[32:96], (96, 48), interpolation=cv2.INTER_LINEAR)

    heatmap = center_heatmap(model, frame)
    assert heatmap.shape == (48, 96)
    np.testing.assert_allclose(heatmap, expected, atol=1e-5)
    # Not what resizing the whole input-size map (pad included) would give.
    assert np.abs(heatmap - cv2.resize(full, (96, 48))).max() > 1e-3


def test_select_tubes_keeps_one_confident_tube_per_actor():
    """The demo shows the best-scored tube of each actor (the linker gives an actor a tube
    per class) among those scoring at least --score-thr."""
    def tube(x):  # 10 frames of a 20x40 box at x
        return np.array([[f, x, 10, x + 20, 50] for f in range(1, 11)], np.float64)

    # Actor 1: classes 0 and 3 (tube IoU 0.9); actor 2, far away: classes 1 (weak) and 2.
    tubes = [(0, 0.5, tube(0)), (3, 0.6, tube(1)), (1, 0.1, tube(60)), (2, 0.3, tube(60))]
    assert [(label, score) for label, score, _ in select_tubes(tubes, 0.2, 0.5)] == [
        (3, 0.6), (2, 0.3)]
    assert [label for label, _, _ in select_tubes(tubes, 0, 1)] == [3, 0, 2, 1]
    assert select_tubes(tubes, 0.7, 0.5) == []
