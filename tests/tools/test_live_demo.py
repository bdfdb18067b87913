"""tools/demo.py --live: one pass over a source delivered at real-time pace (a video file
paced at 25 fps, raw frames written to a pipe at 25 fps), frames dropped and counted when the
detector falls behind, the annotated stream written, memory flat over a long run; and the
parts it is made of (the dropping reader, the live tube linker) on constructed input."""
import io
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
import torch
from tool_helpers import load_tool, read_video

from point3d_mm.apis import LiveTubeLinker, init_detector
from point3d_mm.utils.video import LiveFrameReader, LiveSource

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'point3d_tiny_synthetic.py')
CLASSES = ['walk_left', 'walk_right', 'jump', 'wave', 'squat', 'spin']
HEIGHT, WIDTH, FPS = 72, 96, 25
OUT_HEIGHT, OUT_WIDTH = 384, 512  # drawn at a long side of at least 512 pixels


def stick_figure(t: int) -> np.ndarray:
    """Frame t of a figure walking right and back (any length)."""
    frame = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    x = 10 + abs((2 * t) % 120 - 60)
    cv2.circle(frame, (x + 7, 14), 6, (200, 200, 255), -1)  # head
    cv2.rectangle(frame, (x, 20), (x + 14, 60), (220, 220, 220), -1)  # body
    return frame


def write_video(path: str, num_frames: int) -> str:
    # MJPG in avi: every frame a key frame, so a pipe or FIFO can carry it too.
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'MJPG'), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for t in range(num_frames):
        writer.write(stick_figure(t))
    writer.release()
    return path


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    """A random-init tiny model whose boxes are about 24x24 input pixels (not points)."""
    torch.manual_seed(0)
    model = init_detector(CONFIG)
    with torch.no_grad():
        model.point_head.wh_head[-1].bias.fill_(6.0)
    path = str(tmp_path_factory.mktemp('live') / 'tiny.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, path)
    return path


def run_live(source: str, checkpoint: str, out_dir, *options, stdin_frames=None,
             timeout: float = 240) -> tuple:
    """Run ``tools/demo.py SOURCE --live``; (stats JSON, stdout, output frames or None).

    ``stdin_frames``: (count, fps) raw frames written to the demo's stdin at that pace by a
    thread of this test, as a camera would deliver them."""
    out_video, stats = str(out_dir / 'live.mp4'), str(out_dir / 'stats.json')
    cmd = [sys.executable, 'tools/demo.py', source, CONFIG, checkpoint, '--live',
           '--score-thr', '0', '--out-video', out_video, '--stats-json', stats, *options]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, text=False, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            stdin=subprocess.PIPE if stdin_frames else subprocess.DEVNULL)
    if stdin_frames:
        count, fps = stdin_frames
        # The feeder owns the pipe: communicate() would close it at once.
        pipe, proc.stdin = proc.stdin, None

        def feed():
            start = time.monotonic()
            try:
                for t in range(count):
                    time.sleep(max(0.0, start + t / fps - time.monotonic()))
                    pipe.write(stick_figure(t).tobytes())
                    pipe.flush()
            except BrokenPipeError:
                pass
            finally:
                pipe.close()

        threading.Thread(target=feed, daemon=True).start()
    stdout, stderr = proc.communicate(timeout=timeout)
    stdout, stderr = stdout.decode(), stderr.decode()
    assert proc.returncode == 0, stderr[-4000:]
    with open(stats) as f:
        result = json.load(f)
    frames = read_video(out_video)
    return result, stdout, np.stack(frames)


def check_counts(stats: dict, frames: np.ndarray, read: int) -> None:
    """Every frame read is processed or dropped, and every processed one is written."""
    assert stats['read'] == read
    assert stats['processed'] + stats['dropped'] == stats['read']
    assert stats['processed'] >= 1 and len(frames) == stats['processed']
    assert frames.shape[1:] == (OUT_HEIGHT, OUT_WIDTH, 3)


def test_live_video_file_at_25_fps(checkpoint, tmp_path):
    """A 2 s video file read at its 25 fps: one pass, counts that add up, the annotated
    stream written, a progress line per processed frame (--log-every 1; no carriage
    returns)."""
    video = write_video(str(tmp_path / 'walk.avi'), 50)
    stats, stdout, frames = run_live(video, checkpoint, tmp_path, '--log-every', '1')
    check_counts(stats, frames, 50)
    # Paced at 25 fps: reading took about 2 s, not the fraction of a second decoding takes.
    assert stats['read_fps'] < 30
    lines = [line for line in stdout.splitlines() if line.startswith('live: frame ')]
    assert len(lines) == stats['processed'] and '\r' not in stdout
    assert 'fps processed' in lines[0] and 'latency' in lines[0] and 'dropped' in lines[0]
    assert f'{stats["dropped"]} dropped' in stdout.splitlines()[-2]
    # Tubes were linked and drawn (every linked tube at --score-thr 0).
    assert stats['tubes'] >= 1 and stats['boxes_drawn'] >= 1


def test_live_raw_frames_on_a_pipe_at_25_fps(checkpoint, tmp_path):
    """Raw bgr24 frames written to stdin at 25 fps (``-`` with --raw-size)."""
    stats, _, frames = run_live('-', checkpoint, tmp_path, '--raw-size', f'{WIDTH}x{HEIGHT}',
                                '--fps', '25', stdin_frames=(50, FPS))
    check_counts(stats, frames, 50)


def test_live_bad_sources_are_one_line_errors(checkpoint, tmp_path, monkeypatch):
    """A camera that cannot be opened, a missing file, --show without a display (all before
    the model is loaded), raw frames of the wrong size: one line naming the source or the
    problem, non-zero exit."""
    demo = load_tool('demo.py')

    def error_of(*args) -> str:
        with pytest.raises(SystemExit) as exit_info:
            demo.main([*args, CONFIG, checkpoint, '--live'])
        message = str(exit_info.value.code)
        assert message.startswith('demo.py: ') and '\n' not in message
        return message

    assert 'camera 7' in error_of('7')
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    assert 'no display' in error_of('0', '--show')
    assert 'nothing.avi' in error_of(str(tmp_path / 'nothing.avi'))
    monkeypatch.setattr(sys, 'stdin', io.TextIOWrapper(io.BytesIO(b'\0' * 500)))
    message = error_of('-', '--raw-size', '10x10')
    assert 'standard input' in message and '300 bytes' in message


def test_reader_drops_the_oldest_frames_and_counts_them():
    """A source 20x faster than its consumer: the queue never holds more than 3 frames, the
    newest frames get through, and delivered + dropped == read."""
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(200)]
    got = []
    with LiveFrameReader(frames, queue_size=3, pace_fps=2000) as reader:
        for item in reader:
            assert len(reader._queue) <= 3
            got.append(item.number)
            time.sleep(0.01)
    assert reader.read == 200 and reader.delivered == len(got)
    assert reader.delivered + reader.dropped == reader.read and reader.dropped > 100
    assert got == sorted(got) and got[-1] == 200  # in order, the last frame kept
    assert all(int(frames[n - 1][0, 0, 0]) == n - 1 for n in got)


def test_reader_close_counts_queued_frames_and_raises_source_errors():
    def failing():
        yield np.zeros((2, 2, 3), np.uint8)
        raise ValueError('source broke')

    with pytest.raises(ValueError, match='source broke'):
        for _ in LiveFrameReader(failing()):
            pass
    reader = LiveFrameReader([np.zeros((2, 2, 3), np.uint8)] * 10, queue_size=4)
    time.sleep(0.2)
    next(iter(reader))
    reader.close()
    assert reader.delivered == 1 and reader.delivered + reader.dropped == reader.read


def test_live_source_kinds(tmp_path):
    video = write_video(str(tmp_path / 'walk.avi'), 5)
    source = LiveSource(video)
    assert source.kind == 'file' and source.fps == FPS and len(list(source)) == 5
    with pytest.raises(ValueError, match='raw frames come on standard input'):
        LiveSource(video, raw_size=(2, 2))
    fifo = str(tmp_path / 'fifo')
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: open(fifo, 'wb').write(open(video, 'rb').read()))
    writer.start()
    source = LiveSource(fifo)
    assert source.kind == 'fifo'
    assert len(list(source)) == 5
    source.close()
    writer.join()


def moving_box(frame: int, x0: float, label: int = 0, score: float = 0.9) -> np.ndarray:
    x = x0 + 2 * frame
    return np.array([[frame, label, score, x, 10, x + 20, 50]], np.float32)


def test_live_tube_linker_keeps_ids_and_bounds_memory():
    """Two actors: each keeps one id while it moves; an actor who appears later gets a new
    one; only the window's detections are kept."""
    linker = LiveTubeLinker(dict(type='TubeLinker', min_length=1, trim_score=0), window=8)
    ids = []
    for frame in range(1, 41):
        rows = [moving_box(frame, 0), moving_box(frame, 200, label=1)]
        if frame > 20:
            rows.append(moving_box(frame, 400, label=2))
        entries = linker.update(frame, np.concatenate(rows))
        assert len(linker._rows) <= 8
        ids.append(sorted(tube_id for tube_id, *_ in entries))
        by_label = {label: box for _, label, _, box in entries}
        np.testing.assert_allclose(by_label[0], moving_box(frame, 0)[0, 3:])
    assert ids[0] == [0, 1] and all(i == [0, 1] for i in ids[:20])
    assert all(i == [0, 1, 2] for i in ids[20:])


@pytest.mark.slow
def test_live_memory_is_flat_over_5000_frames(checkpoint, tmp_path):
    """5,000 frames at 25 fps (200 s): the resident memory after them is within 10 % of that
    after 500."""
    video = write_video(str(tmp_path / 'long.avi'), 5000)
    stats, _, frames = run_live(video, checkpoint, tmp_path, '--log-every', '50',
                                timeout=900)
    check_counts(stats, frames, 5000)
    samples = stats['rss_samples']  # [read, processed, RSS MiB] at log lines, then at the end
    at_500 = next(s for s in samples if s[0] >= 500)
    last = samples[-1]
    assert at_500[0] < 1000 and last[0] == 5000
    assert last[2] <= 1.10 * at_500[2], samples
