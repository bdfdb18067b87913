"""Running ``tools/run_demo.py`` at a tiny size in a subprocess, and killing it for real:
SIGKILL to its whole process group (``mim``, ``tools/train.py``, the dataloader workers,
``tools/demo.py``) at a chosen point of a chosen step."""
import json
import os
import os.path as osp
import re
import signal
import subprocess
import threading
import time
from typing import Callable, Dict, List, Optional

import numpy as np
from reliability_helpers import PYTHON, REPO_ROOT, assert_same_state, env, load_state, nice_cmd

from point3d_mm.evaluation.functional.detection_io import load_frame_detections

DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'point3d_demo_synthetic.py')

#: The demo's config (its model, sampler, schedule, seed) at 64x64 input, in batches of 2, a
#: checkpoint every 2 iterations and every iteration logged (the kill points read the log),
#: validating 8 clips. With TINY_ARGS (4 iterations) a run takes about a minute on 2 cores.
TINY_DEMO_CONFIG = '''
_base_ = [{base!r}]
size = 64
train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale=size),
    dict(type='ClipColorJitter', brightness=0.3, contrast=0.3, saturation=0.5, hue=0.5),
    dict(type='PackPoint3DInputs'),
]
test_pipeline = [dict(type='LoadClipFrames'), dict(type='ClipResize', scale=size),
                 dict(type='PackPoint3DInputs')]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(batch_size=2, dataset=dict(pipeline=test_pipeline))
val_dataloader = dict(batch_size=2, dataset=dict(pipeline=test_pipeline, indices=8))
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
'''
TINY_ARGS = ['--num-train', '4', '--num-val', '2', '--num-test', '2', '--iters', '4']


def write_demo_config(folder: str) -> str:
    path = osp.join(folder, 'demo_tiny.py')
    with open(path, 'w') as f:
        f.write(TINY_DEMO_CONFIG.format(base=DEMO_CONFIG))
    return path


def demo_cmd(config: str, data_root: str, work_dir: str, *extra: str) -> List[str]:
    return [PYTHON, 'tools/run_demo.py', '--config', config, '--data-root', data_root,
            '--work-dir', work_dir, *TINY_ARGS, *extra]


class Run:
    """A started ``run_demo.py`` in its own process group (its own session), its output
    collected line by line by a thread."""

    def __init__(self, cmd: List[str]) -> None:
        self.cmd = cmd
        self.proc = subprocess.Popen(nice_cmd(cmd), cwd=REPO_ROOT, env=env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return ''.join(self.lines)

    def wait(self, timeout: float = 600) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise AssertionError(f'{" ".join(self.cmd)} did not end in {timeout} s:\n'
                                 + self.output[-4000:])
        self._reader.join(timeout=30)
        return code

    def kill_when(self, condition: Callable[[], bool], what: str,
                  timeout: float = 600) -> None:
        """SIGKILL the whole process group as soon as ``condition()`` holds (polled every
        20 ms); fail if the run ends first."""
        deadline = time.time() + timeout
        while not condition():
            assert self.proc.poll() is None, (
                f'the run ended (code {self.proc.returncode}) before {what}:\n'
                + self.output[-4000:])
            assert time.time() < deadline, f'no {what} within {timeout} s'
            time.sleep(0.02)
        self.kill_group()

    def kill_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=60)
        # Every process of the group (dataloader workers too) is gone before the rerun, as
        # after a real kill of the terminal's job.
        deadline = time.time() + 60
        while True:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            assert time.time() < deadline, 'processes of the killed group survive'
            time.sleep(0.05)
        self._reader.join(timeout=30)

    def line_seen(self, pattern: str) -> Callable[[], bool]:
        regex = re.compile(pattern)
        return lambda: any(regex.search(line) for line in list(self.lines))


def run_demo(cmd: List[str], timeout: float = 900) -> str:
    """Run to the end; its output. Fails with the end of the output if it fails."""
    run = Run(cmd)
    code = run.wait(timeout)
    assert code == 0, f'{" ".join(cmd)} exited with {code}:\n{run.output[-6000:]}'
    return run.output


def demo_results(work_dir: str) -> Dict:
    """What a demo run ends with: the test metrics, the final weights, the test detections and
    the demo's tubes (without the video path, which names the data root)."""
    with open(osp.join(work_dir, 'test_metrics.json')) as f:
        metrics = json.load(f)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    detections, videos = load_frame_detections(osp.join(work_dir, 'test_detections.pkl'))
    with open(osp.join(work_dir, 'demo_test_0000_tubes.json')) as f:
        tubes = json.load(f)
    tubes.pop('video', None)
    return dict(metrics=metrics, checkpoint=osp.basename(checkpoint),
                state=load_state(checkpoint), detections=detections, videos=videos,
                tubes=tubes)


def assert_same_results(a: Dict, b: Dict, what: str) -> None:
    assert a['metrics'] == b['metrics'], f'{what}: test metrics differ'
    assert a['checkpoint'] == b['checkpoint']
    assert_same_state(a['state'], b['state'], what)
    np.testing.assert_array_equal(a['detections'], b['detections'])
    assert a['videos'] == b['videos']
    assert a['tubes'] == b['tubes'], f'{what}: demo tubes differ'


def leftovers(folder: str) -> List[str]:
    """Temporary files or folders of atomic writes under ``folder`` (one level)."""
    return [n for n in os.listdir(folder) if re.search(r'\.tmp(\.\w+)?$', n)]


def holder_pid_in(message: str) -> Optional[int]:
    match = re.search(r'held by pid (\d+)', message)
    return int(match.group(1)) if match else None
