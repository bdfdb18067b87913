"""Run the ablation grid: Tables 3 and 4, the TWA logits and the fast 3D Head, 3 seeds each.

Protocol (``configs/ablation/point3d_synthetic_ablation.py``, rows and tables in
:mod:`point3d_mm.analysis.ablation`): the demo's tiny Point3D on its own synthetic set (600
training + 60 held-out videos, 64x64 frames, written here on first use), T = 8 at stride 2,
8 clips a step, 2000 iterations (learning rate /10 at 1500 and 1800), one thread, tested on
every frame of the held-out videos. Each row changes one thing; each runs with seeds 0, 1
and 2. A full-model run takes about 14 CPU minutes (0.4 s an iteration and a 1-minute test,
one thread of a 2-core AVX-512 host); the rows without the 3D Head cost less, Table 4's cost
grows with T (T = 32 about 4 runs' worth). The whole grid, 51 runs (17 rows), is about 13
CPU hours: about 6.5 hours of a free 2-core machine running two runners (one per core, e.g.
``--seeds 0 1`` and ``--seeds 2``); docs/ablation_results/tables.md has each row's time. ::

    python tools/analysis/run_ablation.py                     # the grid; resumes where it was
    python tools/analysis/run_ablation.py --rows full         # the full model's seeds only
    python tools/analysis/run_ablation.py --dry-run           # the runs still to do
    python tools/analysis/run_ablation.py --tables-only       # rewrite tables.md

Every (row, seed) trains through ``tools/train.py`` and tests through ``tools/test.py``, each
in its own process with one thread, in ``<work-dir>/<row>/seed<k>/`` (resumed from the last
checkpoint found there), and ends as ``<results>/<row>_seed<k>.json``; a (row, seed) whose
file exists is skipped. After each run ``<results>/tables.md`` (mean ± sd over the seeds) is
rewritten, and with ``--git-commit`` both files are committed.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time

from point3d_mm.analysis import ablation
from point3d_mm.utils.fileio import atomic_write, dump_json

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TABLES_HEAD = """# Ablations on synthetic actions (3 seeds per row)

Written by `python tools/analysis/run_ablation.py` ({protocol}); mean ± sample sd over the
seeds in %, paper's numbers (JHMDB-21) beside. Protocol: `{config}`, the demo's tiny Point3D
on 600 training + 60 held-out synthetic videos of 64x64 frames, T = 8 at stride 2, 8 clips a
step, 2000 iterations, one thread per run; the KP rows use the stick figures' 11 joints as
knots with the Point Head's knot-to-box fusion, video-mAP links tubes with `TubeLinker`.
Table 4 is the full model with T frames at stride 2: T = 1 keeps the 3D Head (its 3x3x3
kernels see one frame through zero padding) and TWA (M = [1], Y = 2F); T = 32 spans 63
frames, longer than half of the 32-96-frame videos, whose clips then repeat their first
frame (the paper's T = 32 also adds a long-term feature bank, which is not implemented).
Each run's JSON beside this file holds its metrics, times, commit and host. Updated
{date} on {host}.

"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--results', default=osp.join(REPO, 'docs', 'ablation_results'),
                        help='folder of the result files and tables.md')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'ablation'))
    parser.add_argument('--rows', nargs='+', default=list(ablation.ORDER),
                        choices=ablation.ORDER, metavar='ROW', help=' '.join(ablation.ORDER))
    parser.add_argument('--seeds', nargs='+', type=int, default=list(ablation.SEEDS))
    parser.add_argument('--data-root', help="the protocol's data elsewhere (tests)")
    parser.add_argument('--iters', type=int, help='a shorter schedule (tests)')
    parser.add_argument('--protocol', default=ablation.PROTOCOL,
                        help='the name written into the results (tests)')
    parser.add_argument('--dry-run', action='store_true', help='list the runs still to do')
    parser.add_argument('--tables-only', action='store_true')
    parser.add_argument('--git-commit', action='store_true',
                        help='commit each result file and tables.md when written')
    return parser.parse_args(argv)


def ensure_data(data_root: str) -> None:
    """Write the protocol's synthetic data unless it is there."""
    if osp.isfile(osp.join(data_root, 'synthetic_joints.pkl')):
        return
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    print(f'writing the ablation data {ablation.DATA} to {data_root}', flush=True)
    SyntheticActions(**ablation.DATA).generate(data_root)


def git_describe() -> str:
    done = subprocess.run(['git', 'describe', '--always', '--dirty'], cwd=REPO,
                          capture_output=True, text=True)
    return done.stdout.strip() or 'unknown'


def cpu_seconds() -> float:
    """CPU time of the finished child processes of this one."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_one(slug: str, seed: int, args: argparse.Namespace) -> dict:
    """Train and test one (row, seed); return its result (not yet written)."""
    work_dir = osp.join(args.work_dir, slug, f'seed{seed}')
    cfg = ablation.row_config(slug, work_dir, iters=args.iters, data_root=args.data_root)
    ensure_data(cfg.train_dataloader.dataset.data_root)
    os.makedirs(work_dir, exist_ok=True)
    config = osp.join(work_dir, f'{slug}.py')
    cfg.dump(config)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    train = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config, '--work-dir',
             work_dir, '--seed', str(seed), '--no-validate']  # tested once, by test.py
    resumed = osp.isfile(osp.join(work_dir, 'last_checkpoint'))
    if resumed:  # cpu_s and train_s then count only what this call trained
        train.append('--resume')
    metrics_file = osp.join(work_dir, 'test_metrics.json')
    checkpoint = osp.join(work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    test = [sys.executable, osp.join(REPO, 'tools', 'test.py'), config, checkpoint,
            '--work-dir', work_dir, '--out-metrics', metrics_file]
    times = []
    with open(osp.join(work_dir, 'run.log'), 'a') as log:
        for command in (train, test):
            start, cpu = time.perf_counter(), cpu_seconds()
            log.write(' '.join(command) + '\n')
            log.flush()
            subprocess.run(command, check=True, env=env, cwd=REPO, stdout=log,
                           stderr=subprocess.STDOUT)
            times.append((time.perf_counter() - start, cpu_seconds() - cpu))
    with open(metrics_file) as f:
        metrics = {key.split('/')[-1]: value for key, value in json.load(f).items()}
    return dict(row=slug, seed=seed, protocol=args.protocol, metrics=metrics,
                iters=cfg.train_cfg.max_iters, resumed=resumed, train_s=round(times[0][0], 1),
                test_s=round(times[1][0], 1), cpu_s=round(times[0][1] + times[1][1], 1),
                options=ablation.ROWS[slug], config=ablation.CONFIG, commit=git_describe(),
                host=f'{platform.node()} {platform.processor() or platform.machine()}',
                date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))


def write_tables(args: argparse.Namespace) -> str:
    path = osp.join(args.results, 'tables.md')
    head = TABLES_HEAD.format(
        protocol=args.protocol, config=ablation.CONFIG, host=platform.node(),
        date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))
    tables = ablation.build_tables(ablation.load_results(args.results, args.protocol))
    atomic_write((head + tables).encode(), path)
    return path


def git_commit(paths, message: str) -> None:
    for attempt in range(10):  # another process may hold .git/index.lock for a moment
        added = subprocess.run(['git', 'add', *paths], cwd=REPO, capture_output=True)
        done = subprocess.run(['git', 'commit', '-q', '-m', message, '--', *paths], cwd=REPO,
                              capture_output=True, text=True)
        if added.returncode == 0 and done.returncode == 0:
            return
        time.sleep(5 + 5 * attempt)
    print(f'git commit failed: {done.stdout}{done.stderr}', flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.results, exist_ok=True)
    if args.tables_only:
        print(write_tables(args))
        return 0
    todo = [(slug, seed) for slug, seed in ablation.run_order(args.rows, args.seeds)
            if not osp.isfile(ablation.result_path(args.results, slug, seed))]
    print(f'{len(todo)} runs to do: ' + ', '.join(f'{r}/seed{s}' for r, s in todo), flush=True)
    if args.dry_run:
        return 0
    failed = []
    for slug, seed in todo:
        print(f'{datetime.datetime.now():%H:%M:%S} {slug} seed {seed}', flush=True)
        try:
            result = run_one(slug, seed, args)
        except subprocess.CalledProcessError as error:
            print(f'  failed ({error}); see {args.work_dir}/{slug}/seed{seed}/run.log',
                  flush=True)
            failed.append((slug, seed))
            continue
        path = ablation.result_path(args.results, slug, seed)
        dump_json(result, path)
        tables = write_tables(args)
        score = result['metrics']['frame_mAP@0.5']
        print(f'  frame-mAP@0.5 {100 * score:.2f}, {result["cpu_s"] / 60:.1f} CPU min', flush=True)
        if args.git_commit:
            git_commit([path, tables], f'ablation ({args.protocol}): {slug} seed {seed}, '
                       f'frame-mAP@0.5 {100 * score:.2f}; tables.md updated')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
