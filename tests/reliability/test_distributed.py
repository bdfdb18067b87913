"""Distributed training and evaluation on CPU (gloo) through mmengine's pytorch launcher.

* (default suite) one training step of 2 processes (``python -m torch.distributed.run``,
  :mod:`ddp_step`) on a global batch of 4 clips: the gradients both optimizers step with
  and the weights after the step equal, on both ranks, those of one process stepping on the
  same 4 clips.
* ``tools/dist_train.sh CONFIG 2`` (torch.distributed.run + ``--launcher pytorch``) trains
  the tiny config for 2 iterations per rank; both ranks end with identical weights, equal to
  the checkpoint's.
* ``mim train point3d_mm CONFIG --launcher pytorch --gpus 2`` (``torch.distributed.launch``)
  does the same.
* ``tools/test.py --launcher pytorch`` on 2 processes gathers the detections of a test set of
  55 clips (odd, so the sampler pads rank 1) with mmengine's ``collect_results``: the
  frame-mAP and video-mAP, and every gathered detection, equal the single-process run's.
"""
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from ddp_step import build_model_and_optim, one_process_step, record_step_gradients, share
from reliability_helpers import (
    HERE,
    PYTHON,
    assert_same_state,
    data_options,
    free_port,
    load_state,
    run_tool,
    write_run_config,
)

pytestmark = pytest.mark.filterwarnings('ignore::UserWarning')


def test_ddp_step_equals_one_process_step(tiny_data, tmp_path):
    """One step of the tiny config on 2 processes (gloo, ``MMSeparateDistributedDataParallel``
    as the configs set, both optimizers), 2 clips each, against one process stepping on the
    same 4 clips. In DDP each process normalises its loss and takes its BatchNorm statistics
    over its own 2 clips (SyncBatchNorm needs CUDA), so the single-process equal is the mean of
    the two halves' gradients (:func:`ddp_step.one_process_step`), not one forward of all 4.
    Every comparison is exact: halving and adding two floats is exact in any order."""
    from mmaction.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate

    config = write_run_config(str(tmp_path))
    cfg = Config.fromfile(config)
    cfg.train_dataloader.dataset.data_root = tiny_data
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([dataset[i] for i in range(4)])
    torch.manual_seed(0)
    init_model = MODELS.build(cfg.model)
    init_model.init_weights()
    init_state = init_model.state_dict()
    paths = {name: str(tmp_path / name) for name in ('batch.pkl', 'init.pth')}
    with open(paths['batch.pkl'], 'wb') as f:
        pickle.dump(batch, f)
    torch.save(init_state, paths['init.pth'])

    run_tool([PYTHON, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
              '--master_port', str(free_port()), osp.join(HERE, 'ddp_step.py'), config,
              paths['batch.pkl'], paths['init.pth'], str(tmp_path)], timeout=120)
    ranks = [torch.load(tmp_path / f'rank{rank}.pth', weights_only=True) for rank in (0, 1)]
    assert [(r['backend'], r['wrapper'], r['world_size']) for r in ranks] == [
        ('gloo', 'MMSeparateDistributedDataParallel', 2)] * 2

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the processes: the same kernels, the same rounding
    try:
        model, optim = build_model_and_optim(cfg, init_state)
        expected = record_step_gradients(model, optim)
        losses, first_share = one_process_step(model, optim, [share(batch, r, 2) for r in (0, 1)])
    finally:
        torch.set_num_threads(threads)

    assert [float(r['loss']) for r in ranks] == losses and losses[0] != losses[1]
    assert set(expected) == {'point', 'cls'}
    for rank in ranks:
        assert set(rank['gradients']) == {'point', 'cls'}
        for optimizer, grads in expected.items():
            assert_same_state(grads, rank['gradients'][optimizer], f'{optimizer} gradients')
        # the gradients were averaged over the processes: not the rank's own
        averaged = [name for name, grad in rank['gradients']['point'].items()
                    if not torch.equal(grad, first_share[name])]
        assert len(averaged) > 0.9 * len(rank['gradients']['point'])
    parameters = [name for name, _ in model.named_parameters()]
    stepped = {name: model.state_dict()[name] for name in parameters}
    for rank in ranks:
        assert_same_state(stepped, {name: rank['state'][name] for name in parameters},
                          'weights after the step')
    assert not torch.equal(stepped['cls_head.fc_cls.weight'], init_state['cls_head.fc_cls.weight'])


def _train_2_ranks(launch: str, tiny_data: str, folder: str) -> str:
    config = write_run_config(folder)
    work_dir = osp.join(folder, 'work')
    options = ['--work-dir', work_dir, '--no-validate', '--cfg-options',
               *data_options(tiny_data), 'train_cfg.max_epochs=1']
    port = free_port()
    if launch == 'dist_train.sh':
        cmd = ['bash', 'tools/dist_train.sh', config, '2', *options]
        proc = run_tool(cmd, extra_env=dict(PYTHON=PYTHON, PORT=str(port)))
    else:
        mim = osp.join(osp.dirname(PYTHON), 'mim')
        cmd = [mim, 'train', 'point3d_mm', config, '--launcher', 'pytorch', '--gpus', '2',
               '--port', str(port), *options]
        proc = run_tool(cmd)
        assert 'torch.distributed.launch' in proc.stdout
    log = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    # 8 training clips, batch 2, 2 ranks: 2 iterations per rank.
    assert 'Epoch(train) [1][2/2]' in log
    return work_dir


@pytest.fixture(scope='module')
def dist_work_dir(tiny_data, tmp_path_factory) -> str:
    return _train_2_ranks('dist_train.sh', tiny_data, str(tmp_path_factory.mktemp('dist')))


def _check_identical_ranks(work_dir: str) -> None:
    rank0 = load_state(osp.join(work_dir, 'state_rank0.pth'))
    rank1 = load_state(osp.join(work_dir, 'state_rank1.pth'))
    checkpoint = load_state(osp.join(work_dir, 'epoch_1.pth'))
    assert_same_state(rank0, rank1, 'rank 0 vs rank 1')
    # Plain keys (compat.patch_separate_ddp_checkpoint_keys): the checkpoint of a
    # MMSeparateDistributedDataParallel run loads into an unwrapped model.
    assert not [k for k in checkpoint if '.module.' in k]
    assert_same_state(rank0, checkpoint, 'rank 0 vs epoch_1.pth')
    # The run did train: the weights moved away from the initialisation.
    assert rank0['point_head.wh_head.2.bias'].abs().sum() > 0


@pytest.mark.slow
def test_dist_train_sh_ranks_end_with_identical_weights(dist_work_dir):
    _check_identical_ranks(dist_work_dir)


@pytest.mark.slow
def test_mim_train_launcher_pytorch_on_cpu(tiny_data, tmp_path):
    _check_identical_ranks(_train_2_ranks('mim', tiny_data, str(tmp_path)))


def _calibrated_checkpoint(work_dir: str, path: str) -> str:
    """The trained weights with the Point Head's size and centre biases set so that the
    2-iteration detector gives actor-sized boxes scored above the tube linker's thresholds:
    non-zero frame-mAP and video-mAP, so that equal metrics mean something."""
    state = load_state(osp.join(work_dir, 'epoch_1.pth'))
    state['point_head.wh_head.2.weight'].zero_()
    state['point_head.wh_head.2.bias'].copy_(torch.tensor([2.5, 6.0]))
    state['point_head.heatmap_head.2.bias'] += 4
    torch.save({'state_dict': state}, path)
    return path


@pytest.mark.slow
def test_distributed_evaluation_equals_single_process(dist_work_dir, tiny_data, tmp_path):
    config = write_run_config(str(tmp_path))
    checkpoint = _calibrated_checkpoint(dist_work_dir, str(tmp_path / 'calibrated.pth'))
    outputs = {}
    for name, launch in (('single', []),
                         ('dist', [PYTHON, '-m', 'torch.distributed.run', '--nproc_per_node',
                                   '2', '--master_port', str(free_port())])):
        out = tmp_path / name
        cmd = [*(launch or [PYTHON]), 'tools/test.py', config, checkpoint,
               '--work-dir', str(out), '--out-metrics', str(out / 'metrics.json'),
               '--launcher', 'pytorch' if launch else 'none',
               '--cfg-options', *data_options(tiny_data),
               # the whole test split: 55 clips, not divisible by 2 processes
               'test_dataloader.dataset.indices=None',
               'test_evaluator.0.iou_thr=0.3',
               f'test_evaluator.0.dump_detections={out / "frame_dets.npz"}',
               f'test_evaluator.1.dump_tubes={out / "tubes.pkl"}']
        if launch:
            # a GPU config's SyncBN: dropped for CPU evaluation (eval-mode BN is per sample)
            cmd += ['sync_bn=torch']
        proc = run_tool(cmd)
        log = proc.stdout + proc.stderr
        assert 'unexpected key' not in log and 'missing keys' not in log
        # The cached test loop splits the work by video: 3 videos, 55 clips alone; 2 + 1
        # videos on 2 ranks.
        if launch:
            assert ' of 2 videos in this process' in log  # rank 0's share; rank 1 has 1
        else:
            assert 'test: 55 clips of 3 videos in this process' in log
        with open(out / 'metrics.json') as f:
            metrics = json.load(f)
        with np.load(out / 'frame_dets.npz') as dets:
            outputs[name] = (metrics, dets['detections'], dets['videos'].tolist())

    single_metrics, single_dets, videos = outputs['single']
    dist_metrics, dist_dets, dist_videos = outputs['dist']
    assert single_metrics == dist_metrics
    assert single_metrics['act/frame_mAP@0.3'] > 0 and single_metrics['act/video_mAP@0.2'] > 0
    assert videos == dist_videos
    # the same detections, gathered in dataset order: none lost, none duplicated by padding
    np.testing.assert_array_equal(single_dets, dist_dets)
    frames = {(int(v), int(f)) for v, f in single_dets[:, :2]}
    assert len(frames) == 55
    # the SyncBN option of a GPU config is dropped for CPU evaluation, on both ranks
    for rank in (0, 1):
        with open(tmp_path / 'dist' / f'syncbn_rank{rank}.json') as f:
            assert json.load(f) == dict(sync_bn=0, batch_norm=44, world_size=2)
