"""Run the ablation grid: Tables 3 and 4, the TWA logits and the fast 3D Head, 3 seeds each.

Protocol (``configs/ablation/point3d_synthetic_ablation.py``; one config per row in
``configs/ablation/synthetic64/``; order and tables in :mod:`point3d_mm.analysis.ablation`):
the demo's tiny Point3D on its own synthetic set (600 training, 60 validation and 60 test
videos of 64x64 frames, written here on first use), T = 8 at stride 2, 8 clips a step, 2000
iterations, one thread, then tested on every frame of the validation videos (which choose
defaults) and of the test videos (which report). ::

    python tools/analysis/run_ablation.py                     # the grid; resumes where it was
    python tools/analysis/run_ablation.py --rows full         # the full model's seeds only
    python tools/analysis/run_ablation.py --dry-run           # the runs still to do
    python tools/analysis/run_ablation.py --tables-only       # rewrite the tables

Every (row, seed) trains through ``tools/train.py`` and tests through ``tools/test.py``, each
in its own process with one thread, in ``<work-dir>/<row>/seed<k>/``, and ends as
``<results>/<row>_seed<k>.json`` with its provenance: the commit, the row's config and the
SHA-256 of the resolved config, the versions of the stack, the CPU and its flags, the thread
count. A (row, seed) whose file holds a result of this protocol is skipped. A run is resumed
from its last checkpoint only at the same commit and config (otherwise it starts over), and a
run during which the code changed is discarded, so no result mixes two versions of the code.
After each run the tables in ``--tables`` (between their markers) are rewritten; committing
the result is yours: the runner says what to commit.
"""
import argparse
import datetime
import hashlib
import json
import os
import os.path as osp
import platform
import resource
import shutil
import subprocess
import sys
import time
from importlib import metadata

from point3d_mm.analysis import ablation
from point3d_mm.utils.fileio import atomic_write, dump_json

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: The tables live between these lines of ``--tables``.
BEGIN = '<!-- ablation tables: written by tools/analysis/run_ablation.py, do not edit -->'
END = '<!-- end of the ablation tables -->'
#: What the code of a run is: a change below these paths during a run discards it.
CODE_PATHS = ('point3d_mm', 'configs', 'tools')
STACK = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmaction2', 'numpy')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--results', default=osp.join(REPO, 'docs', 'ablation_results'),
                        help='folder of the result files')
    parser.add_argument('--tables', default=osp.join(REPO, 'docs', 'model_zoo.md'),
                        help='Markdown file whose ablation-tables block is rewritten')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'ablation'))
    parser.add_argument('--config-dir', default=osp.join(REPO, ablation.CONFIG_DIR),
                        help="the rows' configs")
    parser.add_argument('--rows', nargs='+', metavar='ROW',
                        help='rows to run (default: every config of --config-dir)')
    parser.add_argument('--seeds', nargs='+', type=int, default=list(ablation.SEEDS))
    parser.add_argument('--data-root', help="the protocol's data elsewhere (tests)")
    parser.add_argument('--iters', type=int, help='a shorter schedule (tests)')
    parser.add_argument('--protocol', default=ablation.PROTOCOL,
                        help='the name written into the results (tests)')
    parser.add_argument('--allow-dirty', action='store_true',
                        help='run on uncommitted code (recorded as such, and not checked for '
                        'changes during a run; tests)')
    parser.add_argument('--dry-run', action='store_true', help='list the runs still to do')
    parser.add_argument('--tables-only', action='store_true')
    return parser.parse_args(argv)


def ensure_data(data_root: str) -> None:
    """Write the protocol's synthetic data unless it is there."""
    from point3d_mm.datasets.preparation.synthetic_actions import VAL_GT_FILE
    if osp.isfile(osp.join(data_root, VAL_GT_FILE)):
        return
    from point3d_mm.datasets.preparation.synthetic_actions import SyntheticActions
    print(f'writing the ablation data {ablation.DATA} to {data_root}', flush=True)
    SyntheticActions(**ablation.DATA).generate(data_root)


def code_state() -> dict:
    """The commit of the repository and the code files that differ from it."""
    def git(*args):
        return subprocess.run(['git', *args], cwd=REPO, capture_output=True,
                              text=True).stdout.strip()
    changed = git('status', '--porcelain', '--untracked-files=no', '--', *CODE_PATHS)
    return dict(commit=git('rev-parse', 'HEAD') or 'unknown',
                dirty=sorted(line[3:] for line in changed.splitlines()))


def cpu() -> dict:
    """The CPU's model and the flags that decide its speed."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'model name':
                    model = value.strip()
                elif key.strip() == 'flags':
                    flags = sorted(flag for flag in value.split()
                                   if flag.startswith(('avx', 'amx', 'fma', 'f16c')))
                    break
    except OSError:
        pass
    return dict(model=model, flags=flags, cores=os.cpu_count())


def versions() -> dict:
    out = {}
    for name in STACK:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_seconds() -> float:
    """CPU time of the finished child processes of this one."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prepare_work_dir(work_dir: str, stamp: dict) -> bool:
    """Make ``work_dir`` ready for a run of ``stamp`` (commit and config hash); return whether
    it resumes. A run left by another commit or config starts over."""
    stamp_file = osp.join(work_dir, 'provenance.json')
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        try:
            with open(stamp_file) as f:
                if json.load(f) == stamp:
                    return True
        except (OSError, ValueError):
            pass
        print(f'  {work_dir} was left by another commit or config: starting over', flush=True)
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)
    dump_json(stamp, stamp_file)
    return False


def run_one(slug: str, seed: int, args: argparse.Namespace, state: dict) -> dict:
    """Train and test one (row, seed); return its result (not yet written)."""
    work_dir = osp.join(args.work_dir, slug, f'seed{seed}')
    cfg = ablation.row_config(slug, work_dir, config_dir=args.config_dir, iters=args.iters,
                              data_root=args.data_root)
    ensure_data(osp.join(REPO, cfg.train_dataloader.dataset.data_root))
    config_sha256 = hashlib.sha256(cfg.pretty_text.encode()).hexdigest()
    resumed = prepare_work_dir(work_dir, dict(commit=state['commit'], dirty=state['dirty'],
                                              config_sha256=config_sha256, seed=seed))
    configs = {}
    for split in ablation.SPLITS:
        configs[split] = osp.join(work_dir, f'{slug}_{split}.py')
        ablation.split_config(cfg, split).dump(configs[split])
    # this checkout's package, also where another one is installed in the environment
    path = os.pathsep.join(p for p in (REPO, os.environ.get('PYTHONPATH')) if p)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'PYTHONPATH': path}
    train = [sys.executable, osp.join(REPO, 'tools', 'train.py'), configs['test'],
             '--work-dir', work_dir, '--seed', str(seed), '--no-validate']
    if resumed:  # cpu_s and train_s then count only what this call trained
        train.append('--resume')
    checkpoint = osp.join(work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    commands = [('train', train)] + [
        (split, [sys.executable, osp.join(REPO, 'tools', 'test.py'), configs[split], checkpoint,
                 '--work-dir', work_dir, '--out-metrics',
                 osp.join(work_dir, f'metrics_{split}.json')])
        for split in ablation.SPLITS]
    times, metrics = {}, {}
    with open(osp.join(work_dir, 'run.log'), 'a') as log:
        for name, command in commands:
            start, cpu_start = time.perf_counter(), cpu_seconds()
            log.write(' '.join(command) + '\n')
            log.flush()
            subprocess.run(command, check=True, env=env, cwd=REPO, stdout=log,
                           stderr=subprocess.STDOUT)
            times[name] = (time.perf_counter() - start, cpu_seconds() - cpu_start)
    for split in ablation.SPLITS:
        with open(osp.join(work_dir, f'metrics_{split}.json')) as f:
            metrics[split] = {key.split('/')[-1]: value for key, value in json.load(f).items()}
    overrides = {k: v for k, v in (('iters', args.iters), ('data_root', args.data_root)) if v}
    return dict(
        row=slug, seed=seed, protocol=args.protocol, metrics=metrics,
        iters=cfg.train_cfg.max_iters, resumed=resumed,
        train_s=round(times['train'][0], 1),
        test_s={split: round(times[split][0], 1) for split in ablation.SPLITS},
        cpu_s=round(sum(cpu_s for _, cpu_s in times.values()), 1),
        commit=state['commit'], dirty=state['dirty'],
        config=osp.relpath(ablation.row_file(slug, args.config_dir), REPO),
        config_sha256=config_sha256, overrides=overrides, versions=versions(), cpu=cpu(),
        threads=1, host=platform.node(),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))


def write_tables(args: argparse.Namespace) -> str:
    """Rewrite the block between :data:`BEGIN` and :data:`END` of ``args.tables``."""
    with open(args.tables, encoding='utf-8') as f:
        text = f.read()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f'{args.tables}: needs one line {BEGIN!r} and after it one line '
                         f'{END!r}, around the ablation tables')
    results = ablation.load_results(args.results, args.protocol)
    done = sum(len(seeds) for seeds in results.values())
    total = len(ablation.rows(args.config_dir)) * len(ablation.SEEDS)
    head = (f'Protocol `{args.protocol}`: {done} of {total} runs; mean ± sample sd over the '
            "seeds in %; each run's JSON (metrics, times, commit, config hash, versions, CPU) "
            f'is in `{osp.relpath(args.results, osp.dirname(args.tables))}/`.\n\n')
    block = BEGIN + '\n' + head + ablation.build_tables(results) + END
    start, end = text.index(BEGIN), text.index(END) + len(END)
    atomic_write((text[:start] + block + text[end:]).encode(), args.tables)
    return args.tables


def is_done(path: str, protocol: str) -> bool:
    """Whether ``path`` holds a complete result of ``protocol`` (an older or incomplete one
    is run again)."""
    if not osp.isfile(path):
        return False
    try:
        return ablation.read_result(path, protocol) is not None
    except ValueError:
        return False


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.results, exist_ok=True)
    if args.tables_only:
        print(write_tables(args))
        return 0
    todo = [(slug, seed) for slug, seed in ablation.run_order(args.rows, args.seeds,
                                                              args.config_dir)
            if not is_done(ablation.result_path(args.results, slug, seed), args.protocol)]
    print(f'{len(todo)} runs to do: ' + ', '.join(f'{r}/seed{s}' for r, s in todo), flush=True)
    if args.dry_run or not todo:
        return 0
    failed = []
    for slug, seed in todo:
        state = code_state()
        if state['dirty'] and not args.allow_dirty:
            print(f'uncommitted changes to the code ({", ".join(state["dirty"][:5])}): a '
                  'result must name the code it ran; commit them (or run from a clean '
                  'worktree) first', file=sys.stderr, flush=True)
            return 2
        print(f'{datetime.datetime.now():%H:%M:%S} {slug} seed {seed}', flush=True)
        try:
            result = run_one(slug, seed, args, state)
        except subprocess.CalledProcessError as error:
            print(f'  failed ({error}); see {args.work_dir}/{slug}/seed{seed}/run.log',
                  flush=True)
            failed.append((slug, seed))
            continue
        if not args.allow_dirty and code_state() != state:
            print('  the code changed during the run: result discarded, run it again',
                  flush=True)
            shutil.rmtree(osp.join(args.work_dir, slug, f'seed{seed}'), ignore_errors=True)
            failed.append((slug, seed))
            continue
        path = ablation.result_path(args.results, slug, seed)
        dump_json(result, path)
        tables = write_tables(args)
        val, test = (100 * result['metrics'][s]['frame_mAP@0.5'] for s in ('val', 'test'))
        print(f'  frame-mAP@0.5 val {val:.2f} test {test:.2f}, {result["cpu_s"] / 60:.1f} CPU '
              f'min; to commit: git add {path} {tables} && git commit -m "ablation '
              f'({args.protocol}): {slug} seed {seed}, frame-mAP@0.5 val {val:.2f} test '
              f'{test:.2f}"', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
