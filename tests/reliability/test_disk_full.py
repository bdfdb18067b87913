"""A full disk, injected for real: the writers run in a child process whose file-size limit
(``RLIMIT_FSIZE``) is below what they write, so their ``write`` fails with ``EFBIG`` as on a
full disk (``SIGXFSZ`` is ignored so that the child gets the error instead of being killed).

After each failed write: the previous complete file is byte-equal to what it was, nothing is
left under the final name or as a temporary file, and the error is one ``OSError`` naming the
file. A process that does not catch it ends with that message as its last line, and a
training run that cannot save its checkpoint stops there.
"""
import json
import os
import os.path as osp
import subprocess
import textwrap

import pytest
from reliability_helpers import (
    PYTHON,
    REPO_ROOT,
    data_options,
    env,
    run_tool,
    write_numbered_video,
    write_run_config,
)
from tool_helpers import tree_hashes

#: The child's file-size limit: above every first (small) write, below every second one.
LIMIT = 20_000

#: Writers: (file or folder name, the write of ``size`` items to ``path``). The first write
#: (size 2) makes the previous complete file; the second (size LIMIT) runs into the limit.
WRITERS = {
    'atomic_write': ('out.bin', "atomic_write(b'x' * {size} * 2, path)"),
    'dump_json': ('metrics.json',
                  "dump_json({{'act/frame_mAP@0.5': 0.5, 'per_class': list(range({size}))}}, "
                  'path)'),
    'dump_act': ('gt.pkl', "dump_act(dict(labels=['a'], gttubes={{'v': {{0: [np.ones(({size}, "
                 "5))]}}}}, nframes={{'v': {size}}}, resolution={{'v': (240, 320)}}, "
                 "train_videos=[['v']], test_videos=[[]]), path)"),
    'detections_npz': ('dets.npz', 'save_frame_detections(path, np.random.default_rng(0).random('
                       "({size}, 8)), ['v'])"),
    'detections_pkl': ('dets.pkl', "save_frame_detections(path, np.ones(({size}, 8)), ['v'])"),
    'detections_csv': ('dets.csv', "save_frame_detections(path, np.zeros(({size}, 8)), ['v'])"),
    'tubes': ('tubes.pkl', "save_tubes(path, {{'v': [(0, 0.5, np.ones(({size}, 5)))]}})"),
    'checkpoint': ('epoch_1.pth',
                   "save_checkpoint({{'state_dict': {{'w': torch.ones({size})}}}}, path)"),
    'torch_save_via_backend': (
        'model.pth', 'buffer = io.BytesIO(); torch.save({{"w": torch.ones({size})}}, buffer); '
        'get_file_backend(path).put(buffer.getvalue(), path)'),
    # the demo's annotated video (H.264 through ffmpeg, a child process that inherits the
    # limit): 2 frames of noise, then 40 (far more than the limit)
    'demo_video': ('demo.mp4', "with AnnotatedVideoWriter(path, 8, quiet=True) as video:\n"
                   "    for i in range(2 if {size} == 2 else 40):\n"
                   "        video.write(np.random.default_rng(i).integers(0, 255, (96, 128, 3), "
                   "dtype=np.uint8))"),
    # a 64x64 JPEG frame is far larger than the 500 bytes the child allows it (below)
    'frame_extraction': ('frames', "extract_frames(VIDEO, path) if {size} == 2 else "
                         "extract_frames(VIDEO, path, jpeg_quality=100)"),
}

CHILD = '''
import io, json, resource, signal, sys
import numpy as np
import torch
import point3d_mm  # the compat patches (atomic LocalBackend.put, checkpoint sidecars)
from mmengine.fileio import get_file_backend
from mmengine.runner.checkpoint import save_checkpoint
from point3d_mm.datasets.preparation.frame_extraction import extract_frames
from point3d_mm.evaluation.functional.detection_io import save_frame_detections, save_tubes
from point3d_mm.structures.act_format import dump_act
from point3d_mm.utils.fileio import atomic_write, dump_json
from point3d_mm.visualization import AnnotatedVideoWriter

LIMIT = {limit}
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
folder, VIDEO, limited = sys.argv[1], sys.argv[2], sys.argv[3] == 'limited'
errors = {{}}
for name, (target, code) in json.loads(sys.argv[4]).items():
    path = folder + '/' + name + '/' + target
    limit = (500 if name == 'frame_extraction' else LIMIT) if limited else resource.RLIM_INFINITY
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        exec(code.format(size=LIMIT if limited else 2))
    except Exception as error:
        errors[name] = f'{{type(error).__name__}}: {{error}}'
print('ERRORS ' + json.dumps(errors))
'''


def run_writers(folder: str, video: str, limited: bool) -> dict:
    """Run every writer in one child (with the file-size limit when ``limited``); the error
    message of each writer that raised."""
    proc = subprocess.run([PYTHON, '-c', CHILD.format(limit=LIMIT), folder, video,
                           'limited' if limited else 'free', json.dumps(WRITERS)],
                          cwd=REPO_ROOT, env=env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [line for line in proc.stdout.splitlines() if line.startswith('ERRORS ')][-1]
    return json.loads(line[len('ERRORS '):])


@pytest.fixture(scope='module')
def disk_full(tmp_path_factory):
    """Every writer run twice: once freely (the previous complete files), then under the
    limit. Returns (folder, files before the second run, after it, errors of the second)."""
    folder = str(tmp_path_factory.mktemp('disk_full'))
    video = str(tmp_path_factory.mktemp('video') / 'clip.avi')
    write_numbered_video(video, 6)
    assert run_writers(folder, video, limited=False) == {}
    before = tree_hashes(folder)
    errors = run_writers(folder, video, limited=True)
    return folder, before, tree_hashes(folder), errors


@pytest.mark.parametrize('writer', sorted(WRITERS))
def test_disk_full_keeps_the_previous_file(disk_full, writer):
    folder, before, after, errors = disk_full
    target = osp.join(folder, writer, WRITERS[writer][0])
    mine = {name: data for name, data in before.items() if name.startswith(writer + '/')}
    assert mine, 'the first write left no file'
    # byte-equal, no .tmp or .part left, a checkpoint's sidecar unchanged
    assert {name: data for name, data in after.items() if name.startswith(writer + '/')} == mine
    if writer == 'frame_extraction':
        assert errors[writer].startswith(f'OSError: could not write frame 1 of {target} ')
        assert errors[writer].endswith('disk full or file too large?)')
    else:
        assert errors[writer] == (f'OSError: [Errno 27] could not write {target}: File too '
                                  'large (disk full or file too large?)')


def test_checkpoint_is_saved_with_its_sidecar(disk_full):
    folder, before, _, _ = disk_full
    assert sorted(name for name in before if name.startswith('checkpoint/')) == [
        'checkpoint/epoch_1.pth', 'checkpoint/epoch_1.pth.sha256']


@pytest.mark.slow
def test_uncaught_disk_full_ends_with_one_message_naming_the_file(tmp_path):
    path = str(tmp_path / 'epoch_3.pth')
    code = textwrap.dedent(f'''
        import resource, signal, torch
        import point3d_mm
        from mmengine.runner.checkpoint import save_checkpoint
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT}, resource.RLIM_INFINITY))
        save_checkpoint({{'state_dict': {{'w': torch.ones({LIMIT})}}}}, {path!r})
    ''')
    proc = subprocess.run([PYTHON, '-c', code], cwd=REPO_ROOT, env=env(), capture_output=True,
                          text=True, timeout=120)
    message = (f'OSError: [Errno 27] could not write {path}: File too large (disk full or file '
               'too large?)')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == message, proc.stderr[-3000:]
    assert proc.stderr.count(path) == 1  # the temporary file is named nowhere
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_extract_frames_tool_reports_a_full_disk(tmp_path):
    """tools/data/extract_frames.py goes on past the video, and names it at the end."""
    videos = tmp_path / 'videos'
    videos.mkdir()
    write_numbered_video(str(videos / 'clip.avi'), 6)
    out_root = str(tmp_path / 'frames')
    code = textwrap.dedent('''
        import resource, runpy, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (500, resource.RLIM_INFINITY))
        sys.argv = ['tools/data/extract_frames.py', *sys.argv[1:]]
        runpy.run_path('tools/data/extract_frames.py', run_name='__main__')
    ''')
    proc = subprocess.run([PYTHON, '-c', code, str(videos), out_root, '--ext', '.avi'],
                          cwd=REPO_ROOT, env=env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"problem: video 'clip': could not write frame 1 of {out_root}/clip" in proc.stdout
    assert os.listdir(out_root) == []


@pytest.mark.slow
def test_training_stops_when_a_checkpoint_cannot_be_saved(tiny_data, tmp_path):
    """mmengine's CheckpointHook lets the save error propagate: the run ends at epoch 1."""
    config = write_run_config(str(tmp_path))
    work_dir = str(tmp_path / 'work')
    # large enough for logs, configs and metrics, not for a checkpoint of the tiny model
    code = textwrap.dedent(f'''
        import resource, runpy, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT * 10}, resource.RLIM_INFINITY))
        sys.argv = ['tools/train.py', *sys.argv[1:]]
        runpy.run_path('tools/train.py', run_name='__main__')
    ''')
    proc = run_tool([PYTHON, '-c', code, config, '--work-dir', work_dir, '--cfg-options',
                     *data_options(tiny_data), 'train_cfg.max_epochs=2'], check=False)
    log = proc.stdout + proc.stderr
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert proc.returncode != 0, log[-3000:]
    assert 'Epoch(train) [1][4/4]' in log and 'Epoch(train) [2]' not in log, log[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f'OSError: [Errno 27] could not write {checkpoint}: File too large (disk full or file '
        'too large?)'), log[-3000:]
    assert not [name for name in os.listdir(work_dir) if '.pth' in name]
