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
import hashlib
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, Tuple

import mmengine

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/point3d_demo_synthetic.py'
#: What SyntheticActions.generate writes into the data root, and run_demo's recipe record: the
#: only entries a data root that run_demo replaces may hold (anything else is not ours).
DATA_ENTRIES = {'frames', 'ava', 'synthetic_gt.pkl', 'synthetic_joints.pkl', 'demo_recipe.json'}
#: The temporary files of point3d_mm.utils.fileio's atomic writes: <name>.<8 random>.tmp[sfx].
_ATOMIC_TMP = re.compile(r'.+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?')


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


def step(title: str) -> float:
    print(f'\n=== {title} ===', flush=True)
    return time.time()


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
    """Generate the dataset into ``<data_root>.<random>.tmp`` beside it and rename it into
    place: a killed generation leaves a ``.tmp`` folder (removed by the next generation), never
    a partial data root. The caller holds ``<data_root>.lock``."""
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    from point3d_mm.utils.fileio import dump_json
    target = osp.realpath(data_root)  # a symlinked data root: build beside what it points to
    parent, name = osp.split(target)
    os.makedirs(parent, exist_ok=True)
    if osp.exists(target):
        foreign = sorted(set(os.listdir(target)) - DATA_ENTRIES)
        if foreign:
            raise SystemExit(f'run_demo.py: {data_root} must be regenerated but holds files '
                             f'that are not the synthetic dataset ({", ".join(foreign[:5])}); '
                             'move them away or pass another --data-root')
    for stale in glob.glob(osp.join(parent, glob.escape(name) + '.*.tmp')):
        shutil.rmtree(stale, ignore_errors=True)  # left by a killed generation
    tmp = tempfile.mkdtemp(dir=parent, prefix=name + '.', suffix='.tmp')
    try:
        SyntheticActions(**recipe).generate(tmp)
        dump_json(recipe, osp.join(tmp, 'demo_recipe.json'))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp's 0700 -> what os.makedirs would give
        if osp.exists(target):
            # Two renames (no atomic exchange of directories here): killed between them, the
            # data root is absent, which the next run regenerates.
            old = tempfile.mkdtemp(dir=parent, prefix=name + '.', suffix='.old.tmp')
            os.replace(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# --- steps 2-4 ------------------------------------------------------------------------------

def remove_atomic_leftovers(work_dir: str) -> None:
    """Remove the ``.tmp`` files that killed atomic writes left in the work dir (never read;
    safe to remove while we hold the work dir's lock)."""
    if osp.isdir(work_dir):
        for name in os.listdir(work_dir):
            path = osp.join(work_dir, name)
            if _ATOMIC_TMP.fullmatch(name) and osp.isfile(path):
                os.unlink(path)


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


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


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


def main(argv=None) -> None:
    args = parse_args(argv)
    started = time.time()
    recipe = dict(seed=args.seed, num_train=args.num_train, num_test=args.num_test)
    if args.data_only:
        step('1/4 synthetic dataset')
        prepare_data(args.data_root, recipe, args.fresh)
        return
    work_lock = lock_work_dir(args.work_dir)
    remove_atomic_leftovers(args.work_dir)
    gt_file = osp.join(args.data_root, 'synthetic_gt.pkl')
    # Config variables are resolved when the config is read, so each user of the data root
    # gets it explicitly.
    data_options = [f'{loader}.dataset.data_root={args.data_root}'
                    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    data_options += [f'{evaluator}.{i}.ann_file={gt_file}'
                     for evaluator in ('val_evaluator', 'test_evaluator') for i in (0, 1)]

    step('1/4 synthetic dataset')
    data_lock, regenerated = prepare_data(args.data_root, recipe, args.fresh)
    locks = (work_lock, data_lock)

    t = step('2/4 training (mim train)')
    # --resume continues an interrupted run on the same data from its last intact checkpoint
    # (tools/train.py's resume_fallback) and returns at once when training is complete; new
    # data starts training afresh.
    trained_on = osp.join(args.work_dir, 'demo_recipe.json')
    resume = not regenerated and not args.fresh and _read_json(trained_on) == recipe
    if not resume:
        forget_checkpoints(args.work_dir)
    options = list(data_options)
    if args.iters:
        options += [f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={args.iters}']
    from point3d_mm.utils.fileio import dump_json
    dump_json(recipe, trained_on)
    run([mim(), 'train', 'point3d_mm', args.config, '--gpus', '0', '--work-dir',
         args.work_dir, *(['--resume'] if resume else []), '--cfg-options', *options], locks)
    with open(osp.join(args.work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    print(f'training step took {time.time() - t:.0f} s; checkpoint {checkpoint}')

    step('3/4 evaluation (mim test): frame-mAP and video-mAP on the held-out videos')
    records = StepRecords(args.work_dir)
    trained = dict(checkpoint=checkpoint, sha256=file_sha256(checkpoint),
                   config=osp.abspath(args.config), data=recipe)
    metrics_file = osp.join(args.work_dir, 'test_metrics.json')
    detections_file = osp.join(args.work_dir, 'test_detections.pkl')
    tubes_file = osp.join(args.work_dir, 'test_tubes.pkl')
    if records.done('test', trained, (metrics_file, detections_file, tubes_file)):
        print(f'reusing {metrics_file} (evaluated with this checkpoint)')
    else:
        run([mim(), 'test', 'point3d_mm', args.config, '--checkpoint', checkpoint, '--gpus',
             '0', '--work-dir', args.work_dir, '--out-metrics', metrics_file, '--cfg-options',
             *data_options, f'test_evaluator.0.dump_detections={detections_file}',
             f'test_evaluator.1.dump_tubes={tubes_file}'], locks)
        records.record('test', trained)

    step('4/4 demo video (tools/demo.py)')
    from point3d_mm.utils.safe_pickle import safe_pickle_load
    test_video = sorted(safe_pickle_load(gt_file)['test_videos'][0])[0]
    out_video = osp.join(args.work_dir, f'demo_{test_video}.mp4')
    out_json = osp.join(args.work_dir, f'demo_{test_video}_tubes.json')
    demo_inputs = dict(trained, video=test_video, streaming=args.streaming,
                       show_heatmap=args.show_heatmap)
    if records.done('demo', demo_inputs, (out_video, out_json)):
        print(f'reusing {out_video} (drawn with this checkpoint and these options)')
    else:
        run([sys.executable, osp.join(ROOT, 'tools', 'demo.py'),
             osp.join(args.data_root, 'frames', test_video), args.config, checkpoint,
             '--out-video', out_video, '--out-json', out_json,
             *(['--streaming'] if args.streaming else []),
             *(['--show-heatmap'] if args.show_heatmap else [])], locks)
        records.record('demo', demo_inputs)

    print(f'\n=== done in {(time.time() - started) / 60:.1f} min ===')
    print(f'dataset:          {args.data_root}')
    print(f'checkpoint:       {checkpoint}')
    print(f'metrics (JSON):   {metrics_file}')
    print(f'detections:       {detections_file}')
    print(f'tubes:            {tubes_file}')
    print(f'annotated video:  {out_video}')
    print(f'tubes (JSON):     {out_json}')


if __name__ == '__main__':
    sys.exit(main())
