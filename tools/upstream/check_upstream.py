"""Run mmaction2's and mmdet's own tests in this environment with point3d_mm imported
(upstream_plugin.py) and sort every failure into a kind by RULES; exit 1 while one of kind 1
remains. Front end: tools/check_upstream.sh (docs/using_parts_in_mmaction2.md)."""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

MODELS = ('losses', 'necks', 'roi_heads', 'heads', 'utils', 'data_preprocessors', 'backbones')
SUITES = {  # the parts point3d_mm uses or users mix with it
    'mmaction2': ['tests/evaluation', 'tests/datasets', 'tests/structures',
                  *(f'tests/models/{part}' for part in MODELS)],
    'mmdet': ['tests/test_models/test_dense_heads/test_centernet_head.py',
              'tests/test_models/test_backbones/test_hourglass.py',
              'tests/test_models/test_losses', 'tests/test_structures/test_bbox'],
}
KINDS = {1: 'ours to fix (a pinned version)', 2: 'needs an optional package or a download',
         3: 'needs their repository layout', 4: 'flaky in their suite (passes alone)'}
# (kind, pattern searched in the failure's traceback, reason: {} are the pattern's groups). The
# first match wins; a failure no rule matches is rerun alone: kind 4 if it passes, else kind 1.
RULES = [
    (1, r"module 'numpy' has no attribute '(\w+)'", 'numpy 2.4 removed np.{}'),
    (1, r'out of bounds for (u?int\d+)', 'numpy 2 no longer wraps Python ints into {}'),
    (1, r'only 0-dimensional arrays can be converted', 'numpy >= 2.3 refuses int() of arrays'),
    (2, r"No module named '(torchvision|mmpretrain|imgaug|av|pims|clip)'", 'needs {}'),
    (2, r'to install (PyAV|pims|clip) first', 'needs {}'),
    (2, r'urlopen error \[Errno -\d+\]', 'downloads pretrained weights: no network here'),
    (3, r'Exception: Cannot find config path',
     "mmaction.testing reads configs/ beside the package, i.e. their checkout's layout"),
]


def run_pytest(checkout, target, timeout):
    """Failures (dicts with nodeid, crash, text) and outcome counts of one pytest run."""
    with tempfile.NamedTemporaryFile(suffix='.jsonl') as report:
        env = dict(os.environ, UPSTREAM_REPORT=report.name,
                   PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
        env.setdefault('OMP_NUM_THREADS', '1')
        # -P: the installed mmaction/mmdet, never the sources of the checkout (cwd)
        command = [sys.executable, '-P', '-m', 'pytest', '-p', 'upstream_plugin', '-p',
                   'no:cacheprovider', '-q', '--rootdir', '.', '--continue-on-collection-errors',
                   target]
        try:
            subprocess.run(command, cwd=checkout, env=env, timeout=timeout,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None, {}
        records = [json.loads(line) for line in open(report.name)]
    counts = [r['counts'] for r in records if 'counts' in r]
    return [r for r in records if 'nodeid' in r], counts[-1] if counts else {}


def classify(checkout, failure, timeout):
    """(kind, reason) of one failure, by RULES or, failing them, by rerunning it alone."""
    for kind, pattern, reason in RULES:
        match = re.search(pattern, failure['text'])
        if match:
            return kind, reason.format(*match.groups())
    failures, _ = run_pytest(checkout, failure['nodeid'], timeout)
    if failures == []:
        return 4, 'fails in the suite, passes alone'
    return 1, 'fails alone too, and no rule explains it'


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('suite', choices=sorted(SUITES))
    parser.add_argument('checkout', help='a checkout of the suite (mmaction2 1.2.0, mmdet 3.3.0)')
    parser.add_argument('--timeout', type=int, default=1800, help='seconds per test folder')
    args = parser.parse_args()
    status = 0
    for target in SUITES[args.suite]:
        if not os.path.exists(os.path.join(args.checkout, target)):
            print(f'{args.suite} {target}: not in {args.checkout}')
            status = 1
            continue
        failures, counts = run_pytest(args.checkout, target, args.timeout)
        if failures is None:
            print(f'{args.suite} {target}: timed out after {args.timeout} s, not sorted')
            status = 1
            continue
        sorted_failures = [(*classify(args.checkout, f, args.timeout), f) for f in failures]
        per_kind = {k: sum(kind == k for kind, _, _ in sorted_failures) for k in KINDS}
        print(f'{args.suite} {target}: ' + ', '.join(f'{n} {o}' for o, n in counts.items())
              + ' | kinds ' + ' '.join(f'{k}:{n}' for k, n in per_kind.items()))
        for kind, reason, failure in sorted_failures:
            print(f'  [kind {kind}: {KINDS[kind]}] {failure["nodeid"]}\n      {reason}; '
                  f'{failure["crash"].splitlines()[0][:160] if failure["crash"] else ""}')
        status |= per_kind[1] > 0
    return status


if __name__ == '__main__':
    sys.exit(main())
