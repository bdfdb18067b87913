"""What tools/demo.py draws and where it writes, without running a model: the render size,
label placement, the heatmap legend, one box per actor and frame, the default output paths
and the progress lines of a run whose stdout is not a terminal."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from tool_helpers import load_tool, read_video

from point3d_mm.apis.demo import Progress
from point3d_mm.visualization import one_box_per_actor, select_tubes
from point3d_mm.visualization.tube_drawer import (
    draw_frame_tubes,
    place_label,
    render_size,
)

CLASSES = ['walk_left', 'walk_right', 'jump']


@pytest.fixture(scope='module')
def demo():
    return load_tool('demo.py')


@pytest.mark.parametrize('size, expected', [
    ((72, 96), (384, 512)), ((240, 320), (384, 512)), ((96, 72), (512, 384)),
    ((720, 1280), (720, 1280)), ((101, 33), (512, 168))])
def test_render_size_has_a_long_side_of_at_least_512(size, expected):
    height, width = render_size(*size)
    assert (height, width) == expected
    assert max(height, width) >= 512 and height % 2 == width % 2 == 0
    assert abs(height / width - size[0] / size[1]) < 0.02


def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize('offset', [(0, 0), (440, 0), (200, 300)])
def test_labels_of_crowded_boxes_stay_in_the_frame_and_apart(offset):
    """Three boxes of nearly the same place (at the top-left corner, the right edge, the
    bottom): each label lies inside the frame, none covers another or the frame number."""
    height, width = 384, 512
    frame = np.full((height, width, 3), 40, np.uint8)
    dx, dy = offset
    boxes = [np.array([dx + 2, dy + 1, dx + 70, dy + 80.0]),
             np.array([dx + 6, dy + 4, dx + 72, dy + 84.0]),
             np.array([dx + 10, dy + 0, dx + 75, dy + 78.0])]
    entries = [(i, i, 0.9 - 0.1 * i, box) for i, box in enumerate(boxes)]
    canvas, labels = draw_frame_tubes(frame, entries, CLASSES, frame_number=17,
                                      return_labels=True)
    assert canvas.shape == frame.shape and len(labels) == 3
    for x1, y1, x2, y2 in labels:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert (canvas[y1:y2, x1:x2] != 40).any(), 'the label is drawn where it was placed'
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            assert not overlap(a, b), (a, b)
    if offset == (0, 0):  # the frame number's corner is kept free too
        assert not any(overlap(label, (0, 0, 20, 20)) for label in labels)


def test_a_label_goes_above_its_box_or_inside_at_the_top_edge():
    assert place_label([100, 50, 200, 150], (60, 20), (384, 512), []) == (100, 30, 160, 50)
    assert place_label([100, 5, 200, 150], (60, 20), (384, 512), []) == (100, 5, 160, 25)
    assert place_label([490, 50, 511, 150], (60, 20), (384, 512), []) == (452, 30, 512, 50)
    # Taken: shifted down past the label already there.
    assert place_label([100, 50, 200, 150], (60, 20), (384, 512), [(90, 25, 170, 45)]) == (
        100, 45, 160, 65)


def test_show_heatmap_draws_a_legend():
    frame = np.full((384, 512, 3), 40, np.uint8)
    heatmap = np.zeros((384, 512), np.float32)
    plain = draw_frame_tubes(frame, [], heatmap=heatmap)
    blended = cv2.addWeighted(frame, 0.6, cv2.applyColorMap(
        np.zeros((384, 512), np.uint8), cv2.COLORMAP_JET), 0.4, 0)
    changed = np.argwhere((plain != blended).any(axis=2))
    assert len(changed), 'a legend is drawn'
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    assert top > 384 * 0.7 and left > 512 * 0.5, 'in the bottom-right corner'
    legend = plain[top:bottom + 1, left:right + 1]
    # The colour bar runs from JET's blue (0) to its red (1).
    blue, red = cv2.applyColorMap(np.uint8([[0, 255]]), cv2.COLORMAP_JET)[0]
    assert (np.abs(legend.astype(int) - blue).sum(axis=2) < 10).any()
    assert (np.abs(legend.astype(int) - red).sum(axis=2) < 10).any()


def test_one_box_per_actor_and_frame():
    """Two tubes of one actor with different spans (frames 1-10 and 5-20: a tube IoU of
    0.3, so tube NMS keeps both) and a tube of another actor: in frames 5-10 only the better
    tube's box is kept; the other actor's tube is untouched."""
    def tube(first, last, x):
        return np.array([[f, x, 10, x + 20, 50] for f in range(first, last + 1)], np.float64)

    tubes = [(1, 0.5, tube(5, 20, 1)), (0, 0.6, tube(1, 10, 0)), (2, 0.4, tube(1, 20, 60))]
    selected = select_tubes(tubes, 0.2, 0.5)
    assert len(selected) == 3
    shown = one_box_per_actor(selected, 0.5)
    by_label = {label: boxes for label, _, boxes in shown}
    assert by_label[0][:, 0].tolist() == list(range(1, 11))
    assert by_label[1][:, 0].tolist() == list(range(11, 21))
    assert by_label[2][:, 0].tolist() == list(range(1, 21))
    for frame in range(1, 21):
        actor1 = [label for label, _, boxes in shown
                  if label in (0, 1) and frame in boxes[:, 0]]
        assert len(actor1) == 1, frame
    # A tube whose every box is covered disappears; --overlap-thr 1 keeps everything.
    assert [label for label, _, _ in one_box_per_actor(
        [(0, 0.6, tube(1, 10, 0)), (1, 0.5, tube(3, 8, 1))], 0.5)] == [0]
    assert len(one_box_per_actor(selected, 1.0)) == 3
    assert sum(len(b) for _, _, b in one_box_per_actor(selected, 1.0)) == 46


def test_default_output_paths(demo):
    args = demo.parse_args(['data/videos/walk.mp4', 'cfg.py', 'ckpt.pth'])
    assert args.out_video == osp.join('work_dirs', 'demo_outputs', 'walk.mp4')
    assert args.out_json == osp.join('work_dirs', 'demo_outputs', 'walk.json')
    args = demo.parse_args(['data/frames/clip_07/', 'cfg.py', 'ckpt.pth',
                            '--out-json', 'x/t.json'])
    assert args.out_video == osp.join('work_dirs', 'demo_outputs', 'clip_07.mp4')
    assert args.out_json == 'x/t.json'


def test_progress_without_a_terminal_prints_a_line_per_tenth(capsys):
    progress = Progress(237)
    for _ in range(237):
        progress.update()
    out = capsys.readouterr().out
    assert '\r' not in out
    lines = out.splitlines()
    assert len(lines) == 10 and lines[-1] == '  237/237 frames (100 %)'


def test_annotated_video_is_browser_playable_h264(tmp_path):
    """The demo's videos are H.264 (libx264 through imageio-ffmpeg's ffmpeg), yuv420p at even
    sizes (odd ones padded by one pixel), with the usual file mode; OpenCV reads every frame
    back."""
    import stat

    from point3d_mm.visualization import AnnotatedVideoWriter
    path = tmp_path / 'out' / 'video.mp4'
    frames = [np.full((101, 131, 3), 20 * i, np.uint8) for i in range(8)]
    with AnnotatedVideoWriter(str(path), 8, quiet=True) as writer:
        for frame in frames:
            writer.write(frame)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~_umask()
    assert [p.name for p in path.parent.iterdir()] == ['video.mp4']  # no temporary file left
    capture = cv2.VideoCapture(str(path))
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, 'little').decode().lower()
    assert fourcc in ('h264', 'avc1')
    capture.release()
    read = read_video(str(path))
    assert len(read) == 8 and read[0].shape == (102, 132, 3)
    # grey levels survive the lossy encoding (frame i is 20 * i everywhere but the padding)
    levels = [float(np.median(f[:101, :131])) for f in read]
    np.testing.assert_allclose(levels, [20 * i for i in range(8)], atol=4)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
