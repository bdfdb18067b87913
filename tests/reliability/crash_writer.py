"""Write an output twice, getting killed in the middle of the second write.

    python crash_writer.py WORK_DIR TARGET

TARGET names what the second write is killed in:

* ``checkpoint``: a 2-epoch mmengine Runner (toy model) saving ``epoch_2.pth``;
* ``last_checkpoint``: the same run, after ``epoch_2.pth``, writing the ``last_checkpoint``
  pointer (``CheckpointHook``);
* ``json``: ``mmengine.dump`` of a metrics dict (``tools/test.py --out-metrics``, the demo's
  tubes JSON, ``DumpResults``);
* ``detections``: ``save_frame_detections`` (FrameMAP/VideoMAP ``dump_detections``).

The first write completes. During the second, once the new bytes are in the file being written
(at its ``fsync``), the script prints ``CRASH_POINT`` and waits for the test to SIGKILL it: a
crash after the data were written and before anything was renamed.
"""
import os
import sys
import time

import numpy as np
import torch

import point3d_mm  # noqa: F401  (the atomic-write patches)


def arm(name: str) -> None:
    """Stop forever at the first fsync of a file whose name starts with ``name``."""
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        path = os.readlink(f'/proc/self/fd/{fd}')
        real_fsync(fd)
        if os.path.basename(path).startswith(name):
            print(f'CRASH_POINT {path}', flush=True)
            time.sleep(120)

    os.fsync = fsync


def toy_runner(work_dir: str, max_epochs: int):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader

    class Toy(BaseModel):

        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            loss = self.linear(inputs).pow(2).mean()
            return dict(loss=loss) if mode == 'loss' else loss

    loader = DataLoader([torch.ones(4) * i for i in range(4)], batch_size=2,
                        collate_fn=lambda batch: dict(inputs=torch.stack(batch)))
    return Runner(model=Toy(), work_dir=work_dir, train_dataloader=loader,
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
                  train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
                  default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
                  default_scope='mmengine', randomness=dict(seed=0))


def main(work_dir: str, target: str) -> None:
    if target in ('checkpoint', 'last_checkpoint'):
        toy_runner(work_dir, 1).train()
        print('FIRST_WRITE_DONE', flush=True)
        arm('epoch_2.pth' if target == 'checkpoint' else 'last_checkpoint')
        runner = toy_runner(work_dir, 2)
        runner._resume = True  # continue from epoch_1.pth into epoch 2
        runner.train()
    elif target == 'json':
        import mmengine
        path = os.path.join(work_dir, 'metrics.json')
        mmengine.dump({'act/frame_mAP@0.5': 0.25}, path, indent=2)
        print('FIRST_WRITE_DONE', flush=True)
        arm('metrics.json')
        mmengine.dump({'act/frame_mAP@0.5': 0.5, 'more': list(range(1000))}, path, indent=2)
    elif target == 'detections':
        from point3d_mm.evaluation.functional import save_frame_detections
        path = os.path.join(work_dir, 'dets.npz')
        save_frame_detections(path, np.zeros((3, 8)), ['v'])
        print('FIRST_WRITE_DONE', flush=True)
        arm('dets.npz')
        save_frame_detections(path, np.ones((500, 8)), ['v'])
    else:
        raise SystemExit(f'unknown target {target}')
    print('NOT_KILLED', flush=True)


if __name__ == '__main__':
    main(*sys.argv[1:])
