"""pytest plugin of tools/check_upstream.sh: runs an upstream suite with point3d_mm imported
(its compat patches applied) and writes one JSON line per failure, then the outcome counts,
to $UPSTREAM_REPORT."""
import collections
import json
import os
import sys

import point3d_mm  # noqa: F401  (the patches, before the first test module imports mmaction)

_counts = collections.Counter()


def pytest_configure(config):
    import mmaction
    import mmdet
    for module in (mmaction, mmdet):  # the installed packages, never the checkout's sources
        if 'site-packages' not in module.__file__:
            sys.exit(f'{module.__name__} imported from {module.__file__}, not the environment')


def _write(record):
    with open(os.environ['UPSTREAM_REPORT'], 'a') as f:
        f.write(json.dumps(record) + '\n')


def pytest_runtest_logreport(report):
    if report.when == 'call' or report.outcome != 'passed':
        _counts[report.outcome] += 1
    if report.failed:
        crash = getattr(report.longrepr, 'reprcrash', None)
        _write(dict(nodeid=report.nodeid, crash=crash.message if crash else '',
                    text=report.longreprtext[-20000:]))


def pytest_collectreport(report):
    if report.failed:
        _counts['failed'] += 1
        _write(dict(nodeid=report.nodeid, crash='collection error',
                    text=report.longreprtext[-20000:]))


def pytest_sessionfinish(session):
    _write(dict(counts=dict(_counts)))
