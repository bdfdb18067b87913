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
import os
import os.path as osp
import sys
import time
from typing import Dict, Tuple

import mmengine

# point3d_mm (the steps, point3d_mm.analysis.demo_pipeline) is imported once the run needs it:
# importing it loads torch and the OpenMMLab stack (seconds, 400 MB), which a run that stops
# at a lock or reuses its data never needs.

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/point3d_demo_synthetic.py'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default=osp.join(ROOT, 'data', 'synthetic'))
    parser.add_argument('--work-dir', help='default: work_dirs/demo, and work_dirs/demo_seed<k> '
                        'for --seed k > 0')
    parser.add_argument('--config', default=osp.join(ROOT, CONFIG))
    parser.add_argument('--seed', type=int, default=0,
                        help="training seed (the config's randomness.seed): the demo's "
                        'spread is the spread over these')
    parser.add_argument('--data-seed', type=int, default=0, help='seed of the synthetic dataset')
    parser.add_argument('--num-train', type=int, default=600, help='training videos')
    parser.add_argument('--num-val', type=int, default=20,
                        help='validation videos (they choose the linking settings)')
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
    args = parser.parse_args(argv)
    if args.work_dir is None:
        args.work_dir = osp.join(ROOT, 'work_dirs',
                                 'demo' if args.seed == 0 else f'demo_seed{args.seed}')
    return args


def step(title: str) -> None:
    print(f'\n=== {title} ===', flush=True)


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
    # it, the data root is complete (for that recipe). Read here rather than with
    # demo_pipeline.read_json, whose import loads torch.
    record = osp.join(data_root, 'demo_recipe.json')
    try:
        return (osp.isfile(osp.join(data_root, 'synthetic_gt.pkl')) and osp.isfile(record)
                and mmengine.load(record) == recipe)
    except ValueError:  # never written completely (JSON is written atomically): not ours
        return False


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
        from point3d_mm.analysis.demo_pipeline import check_replaceable, generate_data
        try:
            check_replaceable(data_root)
        except ValueError as error:  # it holds files that are not ours
            raise SystemExit(f'run_demo.py: {error}') from None
        started = time.time()
        generate_data(data_root, recipe)
        fcntl.flock(users, fcntl.LOCK_SH)  # downgrade: we still hold `generating`
        print(f'generated {data_root} in {time.time() - started:.0f} s')
        return users, True
    finally:
        os.close(generating)


def main(argv=None) -> None:
    args = parse_args(argv)
    started = time.time()
    recipe = dict(seed=args.data_seed, num_train=args.num_train, num_test=args.num_test,
                  num_val=args.num_val)
    if args.data_only:
        step('1/4 synthetic dataset')
        prepare_data(args.data_root, recipe, args.fresh)
        return
    work_lock = lock_work_dir(args.work_dir)

    step('1/4 synthetic dataset')
    data_lock, regenerated = prepare_data(args.data_root, recipe, args.fresh)
    from point3d_mm.analysis.demo_pipeline import DemoSteps, StepRecords
    steps = DemoSteps(ROOT, args.config, args.work_dir, args.data_root,
                      locks=(work_lock, data_lock))
    step('2/4 training (mim train)')
    trained = steps.train(recipe, args.iters, resume=not regenerated and not args.fresh,
                          seed=args.seed)
    records = StepRecords(args.work_dir)
    step('3/4 evaluation (mim test): frame-mAP and video-mAP on the held-out videos; the '
         'linking settings chosen on the validation videos')
    outputs = steps.evaluate(trained, records, 'test')
    val = steps.evaluate(trained, records, 'val')
    tuned = steps.tune_linker(trained, records, val['detections'], outputs['detections'])
    step('4/4 demo video (tools/demo.py)')
    outputs.update(steps.draw_video(trained, records, args.streaming, args.show_heatmap))

    print(f'\n=== done in {(time.time() - started) / 60:.1f} min ===')
    print(f'dataset:          {args.data_root}')
    print(f'checkpoint:       {trained["checkpoint"]}')
    print(f'metrics (JSON):   {outputs["metrics"]} (the config\'s linker)')
    print(f'                  {tuned["metrics"]} (linker chosen on validation: '
          f'{tuned["linker"]})')
    print(f'detections:       {outputs["detections"]}')
    print(f'tubes:            {outputs["tubes"]}')
    print(f'annotated video:  {outputs["video"]}')
    print(f'tubes (JSON):     {outputs["tubes_json"]}')


if __name__ == '__main__':
    sys.exit(main())
