"""Measuring machinery shared by the benchmarks of ``tools/analysis/``: the machine's
description, wall-clock timing (synchronised with the GPU), peak memory of this process or
of a child process, and fresh processes to measure in.

What is measured (models, the mmaction2 peer, the evaluation core) lives in
:mod:`point3d_mm.analysis`; this module knows nothing of models.
"""
import multiprocessing
import os
import os.path as osp
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

#: /proc/cpuinfo flags that decide which precisions a CPU runs natively.
CPU_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile', 'avx512_fp16')


def machine_info(device: str = 'cpu', threads: Optional[int] = None) -> Dict[str, Any]:
    """What the numbers were measured on.

    Args:
        device: the torch device the benchmark runs on ('cpu', 'cuda', 'cuda:1').
        threads: the thread count the benchmark was asked for; None: torch's.

    Returns:
        dict: ``cpu`` (model name), ``cpu_flags`` (those of :data:`CPU_FLAGS` present),
        ``logical_cores``, ``physical_cores``, ``memory_gb``, ``python``, ``platform``,
        ``numpy``, ``torch``, ``mkldnn`` (oneDNN built in), ``threads``, ``device``,
        ``load_average_at_start``, ``opencv`` where installed and, on CUDA, ``gpu``,
        ``gpu_memory_gb`` and ``cuda``.
    """
    import numpy as np
    import torch
    cpu, flags = None, set()
    if osp.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name') and cpu is None:
                    cpu = line.split(':', 1)[1].strip()
                elif line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
    memory_gb = None
    if osp.exists('/proc/meminfo'):
        with open('/proc/meminfo') as f:
            memory_gb = round(int(f.readline().split()[1]) / 2**20, 1)
    try:
        import psutil
        physical = psutil.cpu_count(logical=False)
    except ImportError:
        physical = None
    info = dict(cpu=cpu or platform.processor() or platform.machine(),
                cpu_flags=[flag for flag in CPU_FLAGS if flag in flags],
                logical_cores=os.cpu_count(), physical_cores=physical, memory_gb=memory_gb,
                python=platform.python_version(), platform=platform.platform(),
                numpy=np.__version__, torch=torch.__version__,
                mkldnn=torch.backends.mkldnn.is_available(),
                threads=threads or torch.get_num_threads(), device=device,
                load_average_at_start=[round(x, 2) for x in os.getloadavg()])
    try:
        import cv2
        info['opencv'] = cv2.__version__
    except ImportError:
        pass
    if device.startswith('cuda'):
        properties = torch.cuda.get_device_properties(device)
        info.update(gpu=properties.name, gpu_memory_gb=round(properties.total_memory / 2**30, 1),
                    cuda=torch.version.cuda)
    return info


def command_line() -> str:
    """This process's command line, shell-quoted (the first line of a report)."""
    return ' '.join(shlex.quote(arg) for arg in [sys.executable] + sys.argv)


# ---------------------------------------------------------------------------- timing
def synchronize(device: Optional[str]) -> None:
    """Wait for the GPU's queued work (a no-op on CPU), so that a wall clock measures it."""
    if device is not None and str(device).startswith('cuda'):
        import torch
        torch.cuda.synchronize(device)


def timed(function: Callable[[], Any], device: Optional[str] = None) -> Tuple[Any, float]:
    """``function()``'s result and its wall time in seconds (GPU work included)."""
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return result, time.perf_counter() - start


def median_time(function: Callable[[], Any], repeats: int, warmup: int = 0,
                device: Optional[str] = None) -> Tuple[Any, float, List[float]]:
    """The last result of ``function()``, the median of ``repeats`` wall times (seconds)
    after ``warmup`` untimed calls, and all the timed ones."""
    for _ in range(warmup):
        function()
    times, result = [], None
    for _ in range(max(repeats, 1)):
        result, seconds = timed(function, device)
        times.append(seconds)
    return result, statistics.median(times), times


def latency_stats(latencies: Sequence[float]) -> Dict[str, float]:
    """``ms_median``, ``ms_mean``, ``ms_min`` of per-item latencies (seconds), ``fps`` from
    the median and their count as ``frames``."""
    median = statistics.median(latencies)
    return dict(ms_median=1e3 * median, ms_mean=1e3 * statistics.fmean(latencies),
                ms_min=1e3 * min(latencies), fps=1 / median, frames=len(latencies))


# ---------------------------------------------------------------------------- memory
def proc_status_mb(key: str) -> Optional[float]:
    """A line of /proc/self/status (``VmRSS``, ``VmHWM``) in MB; None off Linux."""
    if not osp.exists('/proc/self/status'):
        return None
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024
    return None


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB).

    Linux's VmHWM belongs to the current address space; ``ru_maxrss`` would also carry the
    parent's peak into a process started by fork + exec.
    """
    peak = proc_status_mb('VmHWM')
    return peak if peak is not None else resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_cuda(device: str) -> Optional[float]:
    """Start a new CUDA peak (after the queued work) and return the MB allocated now;
    None on CPU."""
    if not device.startswith('cuda'):
        return None
    import torch
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.memory_allocated(device) / 2**20


def peak_cuda_mb(device: str) -> Optional[float]:
    """``torch.cuda.max_memory_allocated`` since the last :func:`reset_peak_cuda`, MB; None
    on CPU."""
    if not device.startswith('cuda'):
        return None
    import torch
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


# ---------------------------------------------------------------------------- processes
def _report_to(queue, function: Callable, threads: Optional[int], args: tuple) -> None:
    """Child-process entry: set the threads, run ``function(*args)``, send its result."""
    if threads:
        import torch
        torch.set_num_threads(threads)
    queue.put(function(*args))


def in_fresh_process(function: Callable, threads: Optional[int], *args) -> Any:
    """``function(*args)`` in a new (spawned) process, so that its peak memory is its own.
    ``function`` must be importable by name (a module-level function)."""
    context = multiprocessing.get_context('spawn')
    queue = context.Queue()
    process = context.Process(target=_report_to, args=(queue, function, threads, args))
    process.start()
    result = queue.get()
    process.join()
    return result


def child_env(threads: int, root: Optional[str] = None) -> Dict[str, str]:
    """This environment with the BLAS/OpenMP threads set and ``root`` first on PYTHONPATH."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if root:
        env['PYTHONPATH'] = os.pathsep.join(p for p in (root, env.get('PYTHONPATH')) if p)
    return env


def run_measured(cmd: Sequence[str], env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None, poll: float = 0.05) -> Dict[str, Any]:
    """Run ``cmd`` to its end and measure it from outside.

    Returns:
        dict: ``output`` (stdout and stderr), ``returncode``, ``ru_maxrss_mb`` (the kernel's
        peak RSS of the child, from ``os.wait4``; on Linux it includes the RSS this process
        had when it forked), ``polled_peak_rss_mb`` (the largest RSS seen every ``poll``
        seconds), ``rss_timeline_mb`` ([seconds, MB] once a second) and ``wall_s``.
    """
    import psutil
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    process = psutil.Process(proc.pid)
    polled, timeline, last_mark, output = 0, [], -1.0, []
    os.set_blocking(proc.stdout.fileno(), False)
    while True:
        chunk = proc.stdout.read()
        if chunk:
            output.append(chunk)
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            rss = process.memory_info().rss
        except psutil.NoSuchProcess:
            rss = 0
        polled = max(polled, rss)
        elapsed = time.perf_counter() - start
        if elapsed - last_mark >= 1.0:
            timeline.append((round(elapsed, 1), round(rss / 2**20, 1)))
            last_mark = elapsed
        time.sleep(poll)
    wall = time.perf_counter() - start
    os.set_blocking(proc.stdout.fileno(), True)
    output.append(proc.stdout.read() or b'')
    proc.stdout.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return dict(output=b''.join(output).decode(errors='replace'), returncode=proc.returncode,
                ru_maxrss_mb=usage.ru_maxrss / 1024,  # kB on Linux
                polled_peak_rss_mb=polled / 2**20, rss_timeline_mb=timeline, wall_s=wall)
