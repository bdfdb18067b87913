"""Shared pieces of the reliability tests: a tiny run config, data overrides, launching."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(osp.dirname(HERE))
TINY_CONFIG = osp.join(REPO_ROOT, 'configs', 'point3d_tiny_synthetic.py')
PYTHON = sys.executable

#: The tiny synthetic dataset of these tests: 4 short train videos, 3 test videos, 64x64.
TINY_DATA = dict(seed=0, num_train=4, num_test=3, size=64, min_frames=16, max_frames=20)

# The tiny config at the frames' own 64x64 size (a quarter of the compute of its 128x128),
# small single-process loaders, the test hooks, logging every iteration, deterministic.
RUN_CONFIG = '''
_base_ = [{base!r}]
custom_imports = dict(imports=['point3d_mm', 'reliability_hooks'], allow_failed_imports=False)
custom_hooks = [dict(type='DumpRankState'), dict(type='DumpValMetrics'),
                dict(type='RecordTrainStream')]
randomness = dict(seed=0, deterministic=True)
default_hooks = dict(logger=dict(interval=1))
size = 64
train_dataloader = dict(
    batch_size=2, num_workers={train_workers}, persistent_workers={persistent},
    dataset=dict(indices=8, pipeline=[
        dict(type='LoadClipFrames'),
        dict(type='ClipResize', scale=size),
        dict(type='ClipColorJitter', brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
        dict(type='PackPoint3DInputs'),
    ]))
test_pipeline = [
    dict(type='LoadClipFrames'), dict(type='ClipResize', scale=size),
    dict(type='PackPoint3DInputs')]
# batch 1: every clip goes through the model alone, so single-process and distributed
# inference compute exactly the same numbers. 7 clips: not divisible by 2 processes.
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(indices=7, pipeline=test_pipeline))
test_dataloader = val_dataloader
'''


def write_run_config(folder: str, train_workers: int = 0) -> str:
    """Write the tests' run config (see :data:`RUN_CONFIG`) into ``folder``; its path.

    ``train_workers`` > 0 gives persistent workers, as the repository's configs have."""
    path = osp.join(folder, 'reliability_tiny.py')
    with open(path, 'w') as f:
        f.write(RUN_CONFIG.format(base=TINY_CONFIG, train_workers=train_workers,
                                  persistent=train_workers > 0))
    return path


def data_options(data_root: str) -> List[str]:
    """``--cfg-options`` pointing every user of the data at ``data_root`` (config variables
    are resolved when the base config is read, so ``data_root=`` alone reaches none)."""
    gt = osp.join(data_root, 'synthetic_gt.pkl')
    options = [f'{loader}.dataset.data_root={data_root}'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += [f'{evaluator}.{i}.ann_file={gt}'
                for evaluator in ('val_evaluator', 'test_evaluator') for i in (0, 1)]
    return options


def env(**extra: str) -> Dict[str, str]:
    """Environment of launched tools: this folder importable (the test hooks), 1 thread per
    process (2 cores shared), no CUDA."""
    result = dict(os.environ)
    result['PYTHONPATH'] = os.pathsep.join(
        p for p in (HERE, REPO_ROOT, os.environ.get('PYTHONPATH')) if p)
    result.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='',
                  PYTHONUNBUFFERED='1')
    result.update(extra)
    return result


def nice_cmd(cmd: Sequence[str]) -> List[str]:
    return ['nice', '-n', '5', *cmd] if _has_nice() else list(cmd)


def _has_nice() -> bool:
    return any(osp.exists(osp.join(d, 'nice'))
               for d in os.environ.get('PATH', '').split(os.pathsep))


def run_tool(cmd: Sequence[str], timeout: float = 240, check: bool = True,
             extra_env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """Run a command from the repository root; on failure, show the end of its output."""
    return finish_tool(start_tool(cmd, extra_env), timeout, check)


def start_tool(cmd: Sequence[str],
               extra_env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """Start a command from the repository root (:func:`finish_tool` waits for it)."""
    return subprocess.Popen(nice_cmd(cmd), cwd=REPO_ROOT, env=env(**(extra_env or {})),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_tool(process: subprocess.Popen, timeout: float = 240,
                check: bool = True) -> subprocess.CompletedProcess:
    """Wait for a command of :func:`start_tool` (killed after ``timeout`` seconds); on
    failure, show the end of its output."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    proc = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(process.args)} exited with {proc.returncode}\n'
                             f'--- stdout (end) ---\n{proc.stdout[-4000:]}\n'
                             f'--- stderr (end) ---\n{proc.stderr[-6000:]}')
    return proc


def run_until_killed(cmd: list, pattern: str, timeout: float = 240) -> str:
    """Start ``cmd``, SIGKILL it as soon as a line of its output contains ``pattern``; the
    output up to there."""
    proc = subprocess.Popen(nice_cmd(cmd), cwd=REPO_ROOT, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.time() + timeout
    try:
        for line in proc.stdout:
            lines.append(line)
            if pattern in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
            assert time.time() < deadline, f'{cmd[1:3]} did not reach {pattern!r} in time'
        else:
            raise AssertionError(f'{cmd[1:3]} ended before {pattern!r}:\n' + ''.join(lines[-40:]))
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return ''.join(lines)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def load_checkpoint_file(path: str) -> dict:
    """A whole checkpoint, or a per-rank dump, as mmengine loads it (through the allow-list
    and the integrity checks)."""
    from mmengine.runner.checkpoint import _load_checkpoint
    return _load_checkpoint(path, map_location='cpu')


def load_state(path: str) -> Dict[str, torch.Tensor]:
    """The model weights of a checkpoint or a per-rank dump."""
    loaded = load_checkpoint_file(path)
    return loaded.get('state_dict', loaded)


def assert_same_state(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor],
                      what: str) -> None:
    """Bit-identical weights and buffers."""
    assert list(a) == list(b), f'{what}: different keys'
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{what}: {len(different)} tensors differ, e.g. {different[:5]}'


def assert_same_tree(a, b, what: str) -> None:
    """Equal nested dicts, lists and tuples whose tensors and arrays are bit-identical."""
    import numpy as np
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f'{what}: keys {list(a)} vs {b!r:.200}'
        for key in a:
            assert_same_tree(a[key], b[key], f'{what}.{key}')
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f'{what}: {a!r:.200} vs {b!r:.200}'
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f'{what}[{i}]')
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f'{what}: tensors differ'
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), f'{what}: arrays differ'
    else:
        assert a == b, f'{what}: {a!r} vs {b!r}'


def write_numbered_video(path: str, num_frames: int, size: int = 64, fourcc: str = 'MJPG',
                         fps: float = 25.0) -> None:
    """A video whose frame n (1-based) is filled with grey level ``frame_level(n)``."""
    import cv2
    import numpy as np
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (size, size))
    assert writer.isOpened(), f'OpenCV cannot write {fourcc} to {path}'
    for number in range(1, num_frames + 1):
        frame = np.full((size, size, 3), frame_level(number), np.uint8)
        cv2.rectangle(frame, (size // 4, size // 4), (size // 2, size - 8), (255, 255, 255), -1)
        writer.write(frame)
    writer.release()


def frame_level(number: int) -> int:
    return (number * 8) % 200


def frame_number_of(frame) -> set:
    """The frame numbers (1..25 mod 25) whose grey level the frame's corner shows."""
    level = int(frame[:8, -8:].mean())
    return {n for n in range(1, 26) if abs(frame_level(n) - level) <= 3}


def corrupt_mjpeg_frame(src: str, dst: str, number: int) -> None:
    """Copy an MJPEG video, zeroing the JPEG data of frame ``number`` (1-based): OpenCV's
    decoder then fails on that frame and goes on with the next one."""
    with open(src, 'rb') as f:
        data = bytearray(f.read())
    starts = [i for i in range(len(data) - 2)
              if data[i] == 0xFF and data[i + 1] == 0xD8 and data[i + 2] == 0xFF]
    begin, end = starts[number - 1], starts[number]
    data[begin:end - 8] = bytes(end - 8 - begin)  # keep the next chunk's 8-byte header
    with open(dst, 'wb') as f:
        f.write(bytes(data))
