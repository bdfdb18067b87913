"""The device check of point3d_mm on a GPU machine with no network: install the offline kit
(``make gpu-kit``) with no index, then run each step time-boxed, writing ``gpu_check.json``
(every section, its status ``ok``/``failed``/``timeout``/``skipped``, seconds, commands,
output tail and parsed result), ``gpu_check.log`` (all output) and ``image_packages.txt``
(the machine's own packages, in the list format the kit builder reads) into ``--out``::

    python3 tools/device/gpu_check.py --kit .gpu_kit --out "$OUT"                # a GPU
    python tools/device/gpu_check.py --device cpu --profile small --out DIR       # rehearsal

The sections run in the order of what a user needs first: on a GPU the CUDA tests, the
training-memory table of UCF101-24 at its default batch and 20 AMP training iterations come
within the first 300 s of time boxes; the speed benchmarks (with the mmaction2 peer) and the
rest of the memory table follow, so a call cut short still holds the first ones.
``--summary FILE`` also writes a short record without machine paths (statuses, seconds, the
host, the versions): what ``make gpu-rehearsal`` commits as docs/gpu_rehearsal.json.

Only the standard library here: it runs under the machine's Python before the kit is in.
The steps run from the checkout (``PYTHONPATH`` = checkout, then the kit's site folder), so
they measure the code that travelled, and the JSON says whether the kit's point3d_mm wheel
was built from the same source.
"""
import argparse
import glob
import json
import os
import os.path as osp
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SECTIONS = ('install', 'environment', 'cuda_tests', 'train_memory', 'train', 'speed',
            'train_memory_all')
#: The tests the cuda_tests section runs (the cuda-marked ones skip without a GPU): what
#: depends on the machine, not the kit builder's tests (tests/tools/test_gpu_kit.py).
TESTS = ('tests/cuda', 'tests/tools/test_mmcv_ext_standin.py')
PROFILES = {
    # A GPU at the paper's sizes. The first five time boxes sum to 300 s (what a user needs
    # first), all seven to 540 s: one 600 s call of a lent machine.
    'full': dict(
        timeouts=dict(install=30, environment=40, cuda_tests=80, train_memory=65, train=85,
                      speed=140, train_memory_all=100),
        # (configs, clips per step, options): the configs' default batches, default options
        memory=dict(train_memory=[(['ucf24'], 6, [])],
                    train_memory_all=[(['jhmdb'], 6, []), (['ava'], 8, [])]),
        train=dict(size=256, clip_len=16, batch=6, iters=20, workers=8, videos=6), amp=True,
        # paper_speed times the mmaction2 peers (detector + SlowOnly pipelines, SlowOnly
        # alone) beside the paper's model, with the same options; the other variants' rows
        # (--paper-only leaves them out) would not fit the section's time box
        speed=['--only', 'testloop', 'paper_speed', '--paper-only', '--speed-frames', '5',
               '--loop-clip-frames', '3', '--loop-batches', '3']),
    # The CPU rehearsal: the same steps on the tiny config or small clips, one or two threads.
    'small': dict(
        timeouts=dict(install=300, environment=300, cuda_tests=600, train_memory=600,
                      train=900, speed=900, train_memory_all=900),  # the 2 cores are shared
        memory=dict(train_memory=[(['tiny'], 2, ['--options', 'fp32', 'cp'])],
                    # every dataset's paper-scale config builds and steps, on small clips
                    train_memory_all=[(['ucf24', 'jhmdb', 'ava'], 1, [
                        '--options', 'fp32', '--clip-len', '4', '--input-size', '128'])]),
        # fp32: --amp on CPU is bf16 autocast, whose first step of this config gives
        # non-finite gradients in the 3D Head (NaN loss_cls from the second step).
        train=dict(size=128, clip_len=4, batch=1, iters=2, workers=0, videos=2), amp=False,
        # Paper scale takes over 15 minutes on 2 cores: the tiny config's clip vs streaming
        # and the mmaction2 peer (RoIAlign through the mmcv stand-in) run the same front end.
        speed=['--only', 'tiny', 'peer', '--clip-lens', '4', '--tiny-frames', '2',
               '--tiny-warmup', '1', '--speed-frames', '1']),
}
#: Environment-probe keys copied into the summary.
SUMMARY_ENV = ('python', 'torch', 'torchvision', 'cuda', 'device_name', 'memory_gib', 'numpy',
               'opencv', 'mmcv', 'mmcv_ext', 'mmengine', 'mmdet', 'mmaction2', 'mim')
TAIL = 4000
ENV_PROBE = r'''
import json, os, platform
import torch
info = dict(python=platform.python_version(), torch=torch.__version__,
            cuda_available=torch.cuda.is_available())
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    info.update(cuda=torch.version.cuda, device_name=props.name,
                capability=list(torch.cuda.get_device_capability(0)),
                memory_gib=round(props.total_memory / 2**30, 1))
try:
    import torchvision
    info['torchvision'] = torchvision.__version__
except Exception as error:
    info['torchvision'] = f'does not import: {error}'
import point3d_mm  # first: it patches the stack (mmaction2's missing drn module ...)
import cv2, mim, mmaction, mmaction.models, mmcv, mmcv._ext, mmcv.ops, mmdet, mmdet.models
import mmengine, numpy
from importlib.metadata import version
info.update(mmcv=version('mmcv'), mmcv_ext=getattr(mmcv._ext, 'BACKEND', 'compiled'),
            mmengine=mmengine.__version__, mmdet=mmdet.__version__, mim=version('openmim'),
            mmaction2=mmaction.__version__, numpy=numpy.__version__, opencv=cv2.__version__,
            point3d_mm=point3d_mm.__file__)
# The machine's own packages: not the kit's (its site folder) nor the checkout's metadata.
from importlib.metadata import distributions
kit_site, checkout = (os.path.realpath(p) for p in (os.environ['GPU_CHECK_SITE'], os.getcwd()))
locations = {d: os.path.realpath(str(d.locate_file(''))) for d in distributions()}
info['image_packages'] = sorted({  # (the kit's setuptools vendors dists in its own folders)
    f"{d.metadata['Name']}=={d.version}" for d, where in locations.items()
    if where != checkout and not (where + os.sep).startswith(kit_site + os.sep)},
    key=str.lower)
print('GPU_CHECK_ENV ' + json.dumps(info))
if os.environ['GPU_CHECK_DEVICE'].startswith('cuda') and not torch.cuda.is_available():
    raise SystemExit('--device cuda, but torch sees no CUDA device')
'''
TRAIN_CONFIG = '''_base_ = [{base!r}]
# 20 iterations of the paper config on synthetic data (tools/device/gpu_check.py).
clip_len, input_size = {clip_len}, {size}
train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='ClipResize', scale=int(input_size * 1.125)),
    dict(type='ClipRandomCrop', size=input_size),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='ClipColorJitter'),
    dict(type='PackPoint3DInputs'),
]
train_dataloader = dict(
    batch_size={batch}, num_workers={workers}, persistent_workers={persistent},
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root={data!r}, ann_file='synthetic_gt.pkl', data_prefix=dict(img='frames'),
                 clip_len=clip_len, pipeline=train_pipeline))
model = dict(backbone=dict(init_cfg=None), cls_head=dict(num_classes={classes}, init_cfg=None))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters},
                 val_interval={iters} + 1)
param_scheduler = []
default_hooks = dict(
    logger=dict(interval=1, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval={iters} + 1, save_last=False, save_best=None))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
'''


def tail(text: str) -> str:
    return text[-TAIL:]


def run_commands(commands, timeout: float, env: dict, log) -> tuple:
    """Run ``commands`` one after another within ``timeout`` seconds in all: (status, output).
    A command past the deadline is killed with its process group (data loader workers)."""
    deadline, outputs = time.monotonic() + timeout, []
    for command in commands:
        if callable(command):  # a preparation between commands, in this process
            try:
                command()
            except (OSError, KeyError, ValueError) as error:
                return 'failed', '\n'.join(outputs + [f'preparing the next command: {error!r}'])
            continue
        log.write(f'\n$ {" ".join(command)}\n')
        log.flush()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            status = 'ok' if proc.returncode == 0 else 'failed'
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            status = 'timeout'
        log.write(out + f'\n[exit {proc.returncode}, {status}]\n')
        log.flush()
        outputs.append(out)
        if status != 'ok':
            return status, '\n'.join(outputs)
    return 'ok', '\n'.join(outputs)


def read_json(path: str):
    for candidate in (path, path + '.partial'):
        if osp.isfile(candidate):
            with open(candidate) as f:
                return json.load(f)
    return None


def pip_check_problems(output: str, kit: dict) -> list:
    """`pip check` lines about a kit wheel's requirement that the kit leaves out on purpose
    are fine; any other line about a kit wheel is a missing or wrong dependency."""
    problems = []
    for line in output.splitlines():
        match = re.match(r'^(\S+) \S+ (?:requires|has requirement) ([A-Za-z0-9_.\-]+)', line)
        if match:
            owner, needed = (re.sub(r'[-_.]+', '-', m).lower() for m in match.groups())
            if owner in kit['wheels'] and needed not in kit['not_carried']:
                problems.append(line)
    return problems


def train_result(work_dir: str, output: str) -> dict:
    """Iterations, seconds per iteration (median after the first two), peak memory and the
    losses, from mmengine's scalars.json."""
    rows = []
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            rows += [json.loads(line) for line in f if '"loss"' in line]
    times = [r['time'] for r in rows[2:]] or [r['time'] for r in rows]
    result = dict(iterations=len(rows), oom='out of memory' in output.lower(),
                  losses=[r['loss'] for r in rows])
    if rows:
        result.update(iter_s_median=statistics.median(times),
                      data_s_median=statistics.median(r['data_time'] for r in rows),
                      losses_finite=all(r['loss'] == r['loss'] and abs(r['loss']) < float('inf')
                                        for r in rows))
    if any('memory' in r for r in rows):  # mmengine's torch.cuda.max_memory_allocated, MB
        result['max_memory_allocated_mb'] = max(r.get('memory', 0) for r in rows)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kit', default=osp.join(REPO, '.gpu_kit'))
    parser.add_argument('--out', default=os.environ.get('OUT') or 'work_dirs/gpu_check')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    parser.add_argument('--profile', choices=list(PROFILES),
                        help="default: 'full' on cuda, 'small' on cpu")
    parser.add_argument('--threads', type=int, help='OMP_NUM_THREADS and torch threads')
    parser.add_argument('--work', help='scratch folder (default: a new one in /tmp)')
    parser.add_argument('--only', nargs='+', choices=SECTIONS[1:],
                        help='run these sections (after the install), the others skipped')
    parser.add_argument('--summary', metavar='FILE',
                        help='also write the short record (no machine paths) to FILE')
    args = parser.parse_args()
    args.profile = args.profile or ('full' if args.device == 'cuda' else 'small')
    profile = PROFILES[args.profile]
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    work = args.work or tempfile.mkdtemp(prefix='gpu_check_')
    site = osp.join(work, 'site')
    kit_dir = osp.abspath(args.kit)
    python = sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith('PIP_')}
    paths = [REPO, site] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else [])
    env.update(PIP_CONFIG_FILE=os.devnull, PYTHONUNBUFFERED='1', MPLBACKEND='Agg',
               GPU_CHECK_DEVICE=args.device, GPU_CHECK_SITE=site,
               PYTHONPATH=os.pathsep.join(paths))
    if args.threads:
        env['OMP_NUM_THREADS'] = str(args.threads)
    threads = ['--threads', str(args.threads)] if args.threads else []
    kit = read_json(osp.join(kit_dir, 'manifest.json')) or dict(wheels={}, not_carried={})
    report = dict(device=args.device, profile=args.profile, command=sys.argv, kit=kit_dir,
                  kit_git_head=kit.get('git_head'), git_head=git_head(),
                  started=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), sections={})
    started = time.monotonic()

    def save():
        report['wall_s'] = round(time.monotonic() - started, 1)
        # Atomic without point3d_mm.utils.fileio: this runs before the kit is installed.
        with open(osp.join(out, 'gpu_check.json.tmp'), 'w') as f:
            json.dump(report, f, indent=1)
        os.replace(osp.join(out, 'gpu_check.json.tmp'), osp.join(out, 'gpu_check.json'))

    memory_jsons = {name: [osp.join(out, f'{name}_{i}.json') for i in range(len(groups))]
                    for name, groups in profile['memory'].items()}
    train_cfg = dict(profile['train'])
    train_dir, data_dir = osp.join(work, 'train'), osp.join(work, 'synthetic')
    wheels = sorted(glob.glob(osp.join(kit_dir, '*.whl')))
    steps = {
        'install': [[python, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps',
                     '--no-compile', '--no-cache-dir', '--target', site, '--find-links',
                     kit_dir] + wheels],
        # pip check exits 1 for the requirements left out on purpose: its lines decide.
        'environment': [[python, '-c', ENV_PROBE],
                        ['sh', '-c', f'{shlex.quote(python)} -m pip check; true']],
        'cuda_tests': [[python, '-m', 'pytest', '-p', 'no:cacheprovider', '-q', '-rs',
                        '-m', 'not slow', f'--junitxml={work}/junit.xml', *TESTS]],
        **{name: [[python, 'tools/analysis/benchmark_train_memory.py', '--device', args.device,
                   '--configs', *configs, '--batches', str(batch), *options, *threads,
                   '--out', path]
                  for (configs, batch, options), path in zip(groups, memory_jsons[name])]
           for name, groups in profile['memory'].items()},
        'train': [[python, 'tools/data/make_synthetic.py', '--out', data_dir, '--num-train',
                   str(train_cfg['videos']), '--num-test', '1', '--size', str(train_cfg['size']),
                   '--min-frames', '24', '--max-frames', '32'],
                  lambda: write_train_config(osp.join(work, 'train_config.py'), data_dir,
                                             train_cfg),
                  [python, 'tools/train.py', osp.join(work, 'train_config.py'),
                   *(['--amp'] if profile['amp'] else []), '--no-validate', '--work-dir',
                   train_dir]],
        'speed': [[python, 'tools/analysis/benchmark.py', '--device', args.device, *threads,
                   *profile['speed'], '--out', osp.join(out, 'benchmark.json')]],
    }
    context = dict(wheels=wheels, site=site, kit=kit, work=work, out=out,
                   memory_jsons=memory_jsons, train_dir=train_dir)
    with open(osp.join(out, 'gpu_check.log'), 'w') as log:
        for name in SECTIONS:
            if name != 'install' and (report['sections']['install']['status'] != 'ok'
                                      or name not in (args.only or SECTIONS)):
                report['sections'][name] = dict(status='skipped', output_tail=(
                    'not in --only' if args.only and name not in args.only
                    else 'the kit did not install'))
                save()
                continue
            timeout = profile['timeouts'][name]
            begin = time.monotonic()
            status, output = run_commands(steps[name], timeout, env, log)
            section = dict(status=status, seconds=round(time.monotonic() - begin, 1),
                           timeout_s=timeout, output_tail=tail(output),
                           commands=[' '.join(c) for c in steps[name] if not callable(c)])
            section['result'] = section_result(name, output, context)
            if status == 'ok' and not result_complete(name, section['result'], train_cfg):
                section['status'] = 'failed'  # the commands ended well, their results did not
            report['sections'][name] = section
            if name == 'environment':
                report['device_name'] = section['result'].get('device_name')
            print(f'{name}: {section["status"]} in {section["seconds"]} s', flush=True)
            save()
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    wanted = [n for n in SECTIONS if n == 'install' or n in (args.only or SECTIONS)]
    report['all_ok'] = all(report['sections'][n]['status'] == 'ok' for n in wanted)
    save()
    if args.summary:
        write_json_atomic(summarise(report, kit, args), args.summary)
        print(f'summary: {args.summary}', flush=True)
    return 0 if report['all_ok'] else 1


def write_json_atomic(data, path: str) -> None:
    """Atomic without point3d_mm.utils.fileio: this runs before the kit is installed."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix='.' + osp.basename(path))
    try:
        with os.fdopen(handle, 'w') as f:
            json.dump(data, f, indent=1)
            f.write('\n')
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if osp.exists(temporary):
            os.remove(temporary)
        raise


def git_head() -> str:
    try:
        return subprocess.run(['git', '-C', REPO, 'rev-parse', 'HEAD'], capture_output=True,
                              text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def host_info() -> dict:
    """The machine in words (no names or paths): CPU model, cores, memory, OS, CPU features."""
    info = dict(machine=platform.machine(), system=platform.platform(), cpus=os.cpu_count())
    try:
        with open('/proc/cpuinfo') as f:
            cpuinfo = f.read()
        model = re.search(r'^model name\s*:\s*(.*)$', cpuinfo, re.M)
        flags = re.search(r'^flags\s*:\s*(.*)$', cpuinfo, re.M)
        info['cpu'] = model.group(1).strip() if model else None
        if flags:
            info['cpu_features'] = sorted(set(flags.group(1).split()) & {
                'avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile', 'fma'})
        with open('/proc/meminfo') as f:
            total = re.search(r'^MemTotal:\s*(\d+) kB', f.read(), re.M)
        info['memory_gib'] = round(int(total.group(1)) / 2**20, 1) if total else None
    except OSError:  # not Linux
        pass
    return info


def failed_case(case: dict) -> str:
    """A failed memory case in one line: the case and its error's last line (the checkout's
    paths made relative)."""
    lines = str(case.get('error') or 'no error text').strip().splitlines()
    return (f"{case.get('config')} {case.get('option')} batch {case.get('batch')}: "
            f'{lines[-1].replace(REPO + os.sep, "")}')


def summarise(report: dict, kit: dict, args: argparse.Namespace) -> dict:
    """The short record of a check: statuses, seconds and the key results of each section,
    the host and the versions; no paths, no output."""
    env = report['sections'].get('environment', {}).get('result') or {}
    sections = {}
    for name, section in report['sections'].items():
        result = section.get('result') or {}
        brief = {k: section[k] for k in ('status', 'seconds', 'timeout_s') if k in section}
        if section['status'] == 'skipped':
            pass
        elif name == 'cuda_tests' and result:
            brief['counts'] = result['counts']
            by_module = {}
            for test, outcome in result['tests'].items():
                counts = by_module.setdefault(test.split('::')[0], {})
                counts[outcome] = counts.get(outcome, 0) + 1
            brief['by_module'] = by_module
            brief['not_passed'] = {t: o for t, o in result['tests'].items() if o != 'passed'}
        elif name in ('train_memory', 'train_memory_all'):
            brief['cases'] = sum(len((r or {}).get('cases') or []) for r in result.values())
            failed = [case for r in result.values() for case in (r or {}).get('failed') or []]
            if failed:
                brief['failed'] = [failed_case(case) for case in failed]
        elif name == 'train':
            brief.update({k: result[k] for k in ('iterations', 'iter_s_median',
                                                  'losses_finite') if k in result})
        elif name == 'speed':
            brief['parts'] = sorted(k for k in result if k not in ('machine', 'args'))
        sections[name] = brief
    return dict(
        date=report['started'], git_head=report['git_head'], kit_git_head=kit.get('git_head'),
        kit_matches_checkout=env.get('kit_matches_checkout'), device=report['device'],
        profile=report['profile'], threads=args.threads, only=args.only,
        host=host_info(), environment={k: env[k] for k in SUMMARY_ENV if k in env},
        kit_wheels=kit.get('wheels'), image_list=kit.get('image_list'),
        sections=sections, wall_s=report['wall_s'], all_ok=report['all_ok'])


def write_train_config(path: str, data_dir: str, cfg: dict) -> None:
    import pickle  # the synthetic generator's file, written a moment ago by this check
    with open(osp.join(data_dir, 'synthetic_gt.pkl'), 'rb') as f:
        classes = len(pickle.load(f)['labels'])
    with open(path, 'w') as f:
        f.write(TRAIN_CONFIG.format(base=osp.join(REPO, 'configs', 'point3d_ucf24.py'),
                                    data=data_dir, classes=classes,
                                    persistent=cfg['workers'] > 0, **cfg))


def result_complete(name: str, result: dict, train_cfg: dict) -> bool:
    """Whether a section's parsed result holds what it should (a benchmark that ran but
    measured nothing, or caught its cases' errors, exits 0)."""
    if name == 'environment':
        return 'torch' in result and not result['kit_problems']
    if name in ('train_memory', 'train_memory_all'):
        return all(r and r.get('cases') and not r.get('failed') for r in result.values())
    if name == 'train':
        return (result['iterations'] == train_cfg['iters'] and not result['oom']
                and result.get('losses_finite', False))
    if name == 'speed':
        return bool(result)
    return True


def section_result(name: str, output: str, scope: dict) -> dict:
    if name == 'install':
        return dict(kit_wheels=len(scope['wheels']), site=scope['site'])
    if name == 'environment':
        match = re.search(r'^GPU_CHECK_ENV (.*)$', output, re.M)
        result = json.loads(match.group(1)) if match else {}
        result['kit_problems'] = pip_check_problems(output, scope['kit'])
        if 'image_packages' in result:  # a package list for build_gpu_kit.py --image
            with open(osp.join(scope['out'], 'image_packages.txt'), 'w') as f:
                f.write('\n'.join([f'python=={result["python"]}', *result['image_packages']])
                        + '\n')
        try:
            sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
            from build_gpu_kit import source_hash
            result['kit_matches_checkout'] = (source_hash() ==
                                              scope['kit'].get('point3d_mm_source_sha256'))
        except ImportError as error:  # packaging missing: not a failure of the check
            result['kit_matches_checkout'] = f'unknown: {error}'
        return result
    if name == 'cuda_tests':
        junit = osp.join(scope['work'], 'junit.xml')
        if not osp.isfile(junit):
            return {}
        cases = {}
        for case in ET.parse(junit).getroot().iter('testcase'):
            outcome = next((child.tag for child in case if child.tag in
                            ('failure', 'error', 'skipped')), 'passed')
            cases[f'{case.get("classname")}::{case.get("name")}'] = outcome
        counts = {o: list(cases.values()).count(o) for o in set(cases.values())}
        return dict(counts=counts, tests=cases)
    if name in scope['memory_jsons']:
        return {osp.basename(p): read_json(p) for p in scope['memory_jsons'][name]}
    if name == 'train':
        return train_result(scope['train_dir'], output)
    if name == 'speed':
        return read_json(osp.join(scope['out'], 'benchmark.json')) or {}
    return {}


if __name__ == '__main__':
    sys.exit(main())
