"""The main job (`make demo`): synthetic actions -> train -> evaluate -> annotated video.

Every step reuses what an earlier run left (the dataset, the trained checkpoint, the test
outputs, the demo video) unless ``--fresh`` is given, and a run killed at any moment is
finished by the next one: the dataset appears under its final name only once complete (it is
built in a temporary folder beside it and renamed into place), training continues from its
last intact checkpoint (``mim train --resume``), and the evaluation and the demo video are
redone unless a record written after them says they are complete for this checkpoint.
Training and evaluation go through ``mim train`` / ``mim test``, exactly as a user would run
them.

Two runs at once: a run holds ``<work dir>.lock`` (``work_dirs/demo.lock``) from start to end;
a second run on the same work dir stops at once, naming the lock and the pid of the run that
holds it. Runs with different work dirs may share a data root: ``<data root>.lock`` makes
them generate one at a time (a run waits, saying so, then reuses what the other generated),
and a run never replaces data that another run is using (``<data root>.users.lock``).
"""
import argparse
import fcntl
import glob
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, List, Sequence, Tuple

import mmengine

# point3d_mm is imported by the steps that use it: importing it loads torch and the OpenMMLab
# stack (seconds, 400 MB), which a run that stops at a lock or reuses its data never needs.

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/point3d_demo_synthetic.py'
#: What SyntheticActions.generate writes into the data root, and run_demo's recipe record: the
#: only entries a data root that run_demo replaces may hold (anything else is not ours).
DATA_ENTRIES = {'frames', 'ava', 'synthetic_gt.pkl', 'synthetic_joints.pkl', 'demo_recipe.json'}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data', 'synthetic'))
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'demo'))
    parser.add_argument('--config', default=osp.join(ROOT, CONFIG))
    parser.add_argument('--seed', type=int, default=0, help='seed of the synthetic dataset')
    parser.add_argument('--num-train', type=int, default=600, help='training videos')
    parser.add_argument('--num-test', type=int, default=20, help='held-out test videos')
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (default: the config\'s)')
    parser.add_argument('--data-only', action='store_true',
                        help='stop after step 1 (the dataset), e.g. for your own mim train')
    parser.add_argument('--fresh', action='store_true',
                        help='regenerate the data and retrain even if outputs exist')
    parser.add_argument('--streaming', action='store_true', help='streaming mode in the demo')
    parser.add_argument('--show-heatmap', action='store_true',
                        help="blend the Point Head's centre heatmap into the demo video")
    return parser.parse_args(argv)


def step(title: str) -> None:
    print(f'\n=== {title} ===', flush=True)


def run(cmd, keep_fds=()) -> None:
    """Run a step's command. ``keep_fds``: the run's lock files, inherited by the command so
    that the locks stay held while it runs even if this process dies first."""
    print('$ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, pass_fds=tuple(keep_fds))


def mim() -> str:
    return osp.join(osp.dirname(sys.executable), 'mim')


def _read_json(path: str):
    """The JSON at ``path``, or None when it is missing or unreadable (never written
    completely: every JSON here is written atomically, so this is a foreign file)."""
    try:
        return mmengine.load(path) if osp.exists(path) else None
    except ValueError:
        return None


# --- locks ----------------------------------------------------------------------------------
# fcntl.flock locks belong to an open file and end when every process holding it is gone, so a
# killed run never leaves a stale lock. The lock files themselves stay (removing one while
# another process waits on it would let two runs hold "the" lock at once).

def _open_lock(path: str) -> int:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)


def _try_lock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_holder(fd: int) -> None:
    """Record this process's pid in a lock file it holds exclusively (for others' messages)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'{os.getpid()}\n'.encode(), 0)


def _holder(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip() or '?'
    except OSError:
        return '?'


def lock_work_dir(work_dir: str) -> int:
    """Hold ``<work_dir>.lock`` for the whole run, or stop at once when another run holds it:
    two trainings into one work dir would overwrite each other's checkpoints and
    ``last_checkpoint``, and waiting would only redo the other run's work afterwards."""
    path = osp.abspath(work_dir).rstrip(os.sep) + '.lock'
    fd = _open_lock(path)
    if not _try_lock(fd, fcntl.LOCK_EX):
        os.close(fd)
        raise SystemExit(f'run_demo.py: {path} is held by pid {_holder(path)}, another '
                         f'run_demo.py using {work_dir}; wait for it to finish, or pass '
                         'another --work-dir')
    _write_holder(fd)
    return fd


# --- step 1: the dataset --------------------------------------------------------------------

def _data_complete(data_root: str, recipe: Dict) -> bool:
    # demo_recipe.json is written last, inside the temporary folder, before the rename: with
    # it, the data root is complete (for that recipe).
    return (osp.isfile(osp.join(data_root, 'synthetic_gt.pkl'))
            and _read_json(osp.join(data_root, 'demo_recipe.json')) == recipe)


def prepare_data(data_root: str, recipe: Dict, fresh: bool) -> Tuple[int, bool]:
    """Make ``data_root`` hold the complete dataset of ``recipe``.

    Returns:
        The file descriptor of the shared lock on ``<data_root>.users.lock``, to hold until
        the run ends (nobody replaces the data meanwhile), and whether the data was generated.
    """
    generating = _open_lock(data_root + '.lock')
    users = _open_lock(data_root + '.users.lock')
    if not _try_lock(generating, fcntl.LOCK_EX):
        print(f'waiting for {data_root}.lock: pid {_holder(data_root + ".lock")} is '
              f'generating or checking {data_root}', flush=True)
        fcntl.flock(generating, fcntl.LOCK_EX)
    _write_holder(generating)
    try:
        if not fresh and _data_complete(data_root, recipe):
            # Never blocks: the exclusive lock on it is only tried (non-blocking) by the holder
            # of `generating`, which we are.
            fcntl.flock(users, fcntl.LOCK_SH)
            print(f'reusing {data_root} (--fresh to regenerate)')
            return users, False
        if osp.exists(data_root) and not _try_lock(users, fcntl.LOCK_EX):
            raise SystemExit(
                f'run_demo.py: {data_root} must be regenerated (other recipe, or --fresh) but '
                f'another run_demo.py is training or testing on it ({data_root}.users.lock is '
                'held); wait for it to finish, or pass another --data-root')
        started = time.time()
        generate_atomically(data_root, recipe)
        fcntl.flock(users, fcntl.LOCK_SH)  # downgrade: we still hold `generating`
        print(f'generated {data_root} in {time.time() - started:.0f} s')
        return users, True
    finally:
        os.close(generating)


def generate_atomically(data_root: str, recipe: Dict) -> None:
    """Generate the dataset in a folder beside ``data_root`` and swap it into place
    (``fileio.atomic_folder``): a killed generation leaves a ``.tmp`` folder (removed by the
    next generation), never a partial data root; killed during the swap, the data root is
    absent, which the next run regenerates. The caller holds ``<data_root>.lock``."""
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    from point3d_mm.utils.fileio import atomic_folder, dump_json
    if osp.exists(data_root):
        foreign = sorted(set(os.listdir(data_root)) - DATA_ENTRIES)
        if foreign:
            raise SystemExit(f'run_demo.py: {data_root} must be regenerated but holds files '
                             f'that are not the synthetic dataset ({", ".join(foreign[:5])}); '
                             'move them away or pass another --data-root')
    with atomic_folder(data_root) as tmp:
        SyntheticActions(**recipe).generate(tmp)
        dump_json(recipe, osp.join(tmp, 'demo_recipe.json'))


# --- steps 2-4 ------------------------------------------------------------------------------

def forget_checkpoints(work_dir: str) -> None:
    """Before training afresh: remove the checkpoints of the earlier training (on other data,
    or --fresh), so that neither ``--resume`` after a kill nor its fallback to the newest
    intact checkpoint can continue from them."""
    names = ['last_checkpoint'] + [
        osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.pth*'))
        if re.fullmatch(r'(?:epoch|iter)_\d+\.pth(?:\.sha256)?', osp.basename(p))]
    removed = [n for n in names if osp.exists(osp.join(work_dir, n))]
    for name in removed:
        os.unlink(osp.join(work_dir, name))
    if removed:
        print(f'training afresh: removed the earlier training\'s {", ".join(sorted(removed))} '
              f'from {work_dir}')


class StepRecords:
    """``<work dir>/demo_steps.json``: for the evaluation and the demo video, the inputs they
    were last completed with (checkpoint hash, config, data recipe, options). Written
    atomically after the step's outputs, so a step killed midway has no record and is
    redone; one whose inputs changed (a new checkpoint) is redone too."""

    def __init__(self, work_dir: str) -> None:
        self.path = osp.join(work_dir, 'demo_steps.json')
        self.records = _read_json(self.path) or {}

    def done(self, name: str, inputs: Dict, outputs) -> bool:
        return (self.records.get(name) == inputs
                and all(osp.isfile(path) for path in outputs))

    def record(self, name: str, inputs: Dict) -> None:
        from point3d_mm.utils.fileio import dump_json
        self.records[name] = inputs
        dump_json(self.records, self.path)


def data_options(args: argparse.Namespace) -> List[str]:
    """``--cfg-options`` pointing the config's datasets and evaluators at the data root
    (config variables are resolved when the config is read, so each user gets it)."""
    gt_file = osp.join(args.data_root, 'synthetic_gt.pkl')
    return ([f'{loader}.dataset.data_root={args.data_root}'
             for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
            + [f'{evaluator}.{i}.ann_file={gt_file}'
               for evaluator in ('val_evaluator', 'test_evaluator') for i in (0, 1)])


def train(args: argparse.Namespace, recipe: Dict, regenerated: bool,
          locks: Sequence[int]) -> Dict:
    """Step 2: ``mim train``. ``--resume`` continues an interrupted run on the same data from
    its last intact checkpoint (tools/train.py's resume_fallback) and returns at once when
    training is complete; new data starts training afresh.

    Returns:
        What the later steps were computed from: the checkpoint, its SHA-256, the config and
        the data recipe.
    """
    from point3d_mm.utils.checkpoint import file_sha256
    from point3d_mm.utils.fileio import dump_json, remove_leftovers
    started = time.time()
    remove_leftovers(args.work_dir)  # of killed atomic writes; safe: we hold its lock
    trained_on = osp.join(args.work_dir, 'demo_recipe.json')
    resume = not regenerated and not args.fresh and _read_json(trained_on) == recipe
    if not resume:
        forget_checkpoints(args.work_dir)
    options = data_options(args)
    if args.iters:
        options += [f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={args.iters}']
    dump_json(recipe, trained_on)
    run([mim(), 'train', 'point3d_mm', args.config, '--gpus', '0', '--work-dir',
         args.work_dir, *(['--resume'] if resume else []), '--cfg-options', *options], locks)
    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    print(f'training step took {time.time() - started:.0f} s; checkpoint {checkpoint}')
    return dict(checkpoint=checkpoint, sha256=file_sha256(checkpoint),
                config=osp.abspath(args.config), data=recipe)


def evaluate(args: argparse.Namespace, trained: Dict, records: StepRecords,
             locks: Sequence[int]) -> Dict[str, str]:
    """Step 3: ``mim test`` (frame-mAP and video-mAP), unless done for this checkpoint.

    Returns:
        The output files: ``metrics``, ``detections``, ``tubes``.
    """
    outputs = dict(metrics=osp.join(args.work_dir, 'test_metrics.json'),
                   detections=osp.join(args.work_dir, 'test_detections.pkl'),
                   tubes=osp.join(args.work_dir, 'test_tubes.pkl'))
    if records.done('test', trained, outputs.values()):
        print(f'reusing {outputs["metrics"]} (evaluated with this checkpoint)')
        return outputs
    run([mim(), 'test', 'point3d_mm', args.config, '--checkpoint', trained['checkpoint'],
         '--gpus', '0', '--work-dir', args.work_dir, '--out-metrics', outputs['metrics'],
         '--cfg-options', *data_options(args),
         f'test_evaluator.0.dump_detections={outputs["detections"]}',
         f'test_evaluator.1.dump_tubes={outputs["tubes"]}'], locks)
    records.record('test', trained)
    return outputs


def draw_demo_video(args: argparse.Namespace, trained: Dict, records: StepRecords,
                    locks: Sequence[int]) -> Dict[str, str]:
    """Step 4: ``tools/demo.py`` on the first test video, unless done for this checkpoint
    and these options.

    Returns:
        The output files: ``video`` (annotated mp4) and ``tubes_json``.
    """
    from point3d_mm.utils.safe_pickle import safe_pickle_load
    gt_file = osp.join(args.data_root, 'synthetic_gt.pkl')
    test_video = sorted(safe_pickle_load(gt_file)['test_videos'][0])[0]
    outputs = dict(video=osp.join(args.work_dir, f'demo_{test_video}.mp4'),
                   tubes_json=osp.join(args.work_dir, f'demo_{test_video}_tubes.json'))
    inputs = dict(trained, video=test_video, streaming=args.streaming,
                  show_heatmap=args.show_heatmap)
    if records.done('demo', inputs, outputs.values()):
        print(f'reusing {outputs["video"]} (drawn with this checkpoint and these options)')
        return outputs
    run([sys.executable, osp.join(ROOT, 'tools', 'demo.py'),
         osp.join(args.data_root, 'frames', test_video), args.config, trained['checkpoint'],
         '--out-video', outputs['video'], '--out-json', outputs['tubes_json'],
         *(['--streaming'] if args.streaming else []),
         *(['--show-heatmap'] if args.show_heatmap else [])], locks)
    records.record('demo', inputs)
    return outputs


def main(argv=None) -> None:
    args = parse_args(argv)
    started = time.time()
    recipe = dict(seed=args.seed, num_train=args.num_train, num_test=args.num_test)
    if args.data_only:
        step('1/4 synthetic dataset')
        prepare_data(args.data_root, recipe, args.fresh)
        return
    work_lock = lock_work_dir(args.work_dir)

    step('1/4 synthetic dataset')
    data_lock, regenerated = prepare_data(args.data_root, recipe, args.fresh)
    locks = (work_lock, data_lock)
    step('2/4 training (mim train)')
    trained = train(args, recipe, regenerated, locks)
    records = StepRecords(args.work_dir)
    step('3/4 evaluation (mim test): frame-mAP and video-mAP on the held-out videos')
    outputs = evaluate(args, trained, records, locks)
    step('4/4 demo video (tools/demo.py)')
    outputs.update(draw_demo_video(args, trained, records, locks))

    print(f'\n=== done in {(time.time() - started) / 60:.1f} min ===')
    print(f'dataset:          {args.data_root}')
    print(f'checkpoint:       {trained["checkpoint"]}')
    print(f'metrics (JSON):   {outputs["metrics"]}')
    print(f'detections:       {outputs["detections"]}')
    print(f'tubes:            {outputs["tubes"]}')
    print(f'annotated video:  {outputs["video"]}')
    print(f'tubes (JSON):     {outputs["tubes_json"]}')


if __name__ == '__main__':
    sys.exit(main())
