"""Explain a frame-mAP and video-mAP: what the false positives are, what was missed, and the
AP gained by fixing each kind of error.

    python tools/analysis/analyze_errors.py GT DETECTIONS [TUBES] [--out-dir DIR]
        [--split 1] [--protocol act|voc] [--frames all|annotated] [--iou-thr 0.5]
        [--loc-thr 0.1] [--link-tubes]

GT is an ACT ground-truth pickle, DETECTIONS the frame detections that
``FrameMAP``/``VideoMAP(dump_detections=...)`` or ``eval_detections.py`` read (``.npz``,
``.pkl``, ``.csv``, or ACT's bare array), TUBES a tube pickle (``{video: [(label, score,
(L, 5) array)]}``); without TUBES, ``--link-tubes`` links them with ``TubeLinker``'s
defaults, else only frame-mAP is analysed. The definitions (duplicate, wrong class,
localisation, background, missed; temporal and spatial misses of tubes; the fixes) are those
of ``point3d_mm.evaluation.functional.error_analysis`` and docs/evaluation_protocols.md.

Writes into ``--out-dir`` (default: ``error_analysis`` beside DETECTIONS) ``errors.json``
(settings, per-class and overall counts, APs, fixed APs and dAP, fractions in [0, 1]),
``frame_errors.png`` and, with tubes, ``video_errors.png``; each is written to a temporary
name and renamed.
"""
import argparse
import json
import os.path as osp
import pickle
import sys
import zipfile
from typing import Callable, Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # before pyplot: no display needed
import matplotlib.pyplot as plt
import numpy as np

from point3d_mm.evaluation.functional.action_ap import FRAME_SETS
from point3d_mm.evaluation.functional.detection_io import load_tubes
from point3d_mm.evaluation.functional.error_analysis import (
    DET_KINDS,
    FIXES,
    IOU_THR,
    LOC_THR,
    frame_errors,
    summarise,
    video_errors,
)
from point3d_mm.evaluation.functional.overlaps import PROTOCOLS
from point3d_mm.evaluation.functional.peer_formats import FORMATS, load_detections
from point3d_mm.structures.act_format import load_act
from point3d_mm.utils.fileio import atomic_open

#: What reading a malformed or missing input file raises.
READ_ERRORS = (OSError, ValueError, KeyError, IndexError, TypeError, EOFError,
               UnicodeDecodeError, pickle.UnpicklingError, zipfile.BadZipFile)
KIND_COLOURS = dict(true_positive='#4c9a2a', duplicate='#8e6bbf', wrong_class='#e07b39',
                    localisation='#3b7dd8', background='#9a9a9a')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('gt', metavar='GT', help='ACT ground-truth pickle')
    parser.add_argument('detections', metavar='DETECTIONS',
                        help='frame detections (.npz, .pkl or .csv)')
    parser.add_argument('tubes', metavar='TUBES', nargs='?', help='tubes (.pkl)')
    parser.add_argument('--out-dir', help='default: error_analysis beside DETECTIONS')
    parser.add_argument('--split', type=int, default=1, help='1-based test split')
    parser.add_argument('--protocol', choices=PROTOCOLS, default='act')
    parser.add_argument('--format', choices=FORMATS, help='of DETECTIONS (default: guessed '
                        'from its name; see eval_detections.py)')
    parser.add_argument('--frames', choices=FRAME_SETS, default='all')
    parser.add_argument('--iou-thr', type=float, default=IOU_THR,
                        help='IoU of a true positive (boxes and tubes)')
    parser.add_argument('--loc-thr', type=float, default=LOC_THR,
                        help='lowest IoU of a localisation error')
    parser.add_argument('--link-tubes', action='store_true',
                        help='without TUBES: link tubes with TubeLinker and analyse them')
    return parser.parse_args(argv)


def read(what: str, path: str, loader: Callable):
    """``loader(path)``, or exit with one line naming the file and what is wrong."""
    try:
        return loader(path)
    except READ_ERRORS as err:
        fail(what, path, err)


def fail(what: str, path: str, err: BaseException) -> None:
    # OSError's str() repeats the path; its strerror alone says what is wrong.
    message = getattr(err, 'strerror', None) or str(err) or type(err).__name__
    if not message.startswith(str(path)):
        message = f'{path}: {message}'
    sys.exit(f'analyze_errors: bad {what}: {message}')


def load_inputs(args: argparse.Namespace):
    """Ground truth, test videos, aligned frame detections and tubes (or ``None``)."""
    gt = read('ground truth', args.gt,
              lambda path: load_act(path, required=('labels', 'gttubes', 'test_videos')))
    dets = read('detections', args.detections,
                lambda path: load_detections(path, gt, args.split, args.format))
    detections, videos = dets.detections, dets.videos
    if dets.outside:
        print(f'ignoring the detections of {len(dets.outside)} videos outside test split '
              f'{args.split}')
    tubes = read('tubes', args.tubes, load_tubes) if args.tubes else dets.tubes
    if tubes is None and args.link_tubes:
        from point3d_mm.evaluation.functional import TubeLinker
        tubes = TubeLinker().link_videos(detections, videos)
    return gt, videos, detections, tubes


def analyse(args: argparse.Namespace, gt, videos: List[str], detections: np.ndarray,
            tubes) -> Dict[str, Dict]:
    """``{'frame': summary, 'video': summary}`` (video only with tubes)."""
    settings = dict(iou_thr=args.iou_thr, loc_thr=args.loc_thr, protocol=args.protocol)
    summaries = {}
    try:
        summaries['frame'] = summarise(frame_errors(gt, detections, videos,
                                                    frames=args.frames, **settings))
    except ValueError as err:
        fail('detections', args.detections, err)
    if tubes is not None:
        try:
            summaries['video'] = summarise(video_errors(gt, tubes, videos, **settings))
        except ValueError as err:
            fail('tubes', args.tubes or '(linked tubes)', err)
    return summaries


def report(name: str, summary: Dict) -> str:
    """A few lines for the terminal: the overall counts and the gains."""
    overall = summary['overall']
    counts = ', '.join(f'{k} {v}' for k, v in overall['counts'].items())
    gains = ', '.join(f'{k} +{100 * v:.2f}' for k, v in overall['dAP'].items()
                      if v is not None)
    m_ap = overall['mAP']
    return (f'{name}-mAP@{summary["iou_thr"]:g} (protocol={summary["protocol"]}): '
            f'{"-" if m_ap is None else f"{100 * m_ap:.2f}"}\n  {counts}\n'
            f'  mAP gained by fixing: {gains}')


# ------------------------------------------------------------------------ charts
def plot_summary(summary: Dict, title: str):
    """A figure: detections by kind per class, the mAP gained by each fix and, for tubes,
    the temporal/spatial split."""
    video = summary['level'] == 'video'
    rows = summary['per_class'] + [dict(label='all', num_gt=summary['overall']['num_gt'],
                                        counts=summary['overall']['counts'])]
    height = max(4.0, 0.32 * len(rows) + 1.5)
    fig, axes = plt.subplots(1, 3 if video else 2, figsize=(15 if video else 11, height),
                             gridspec_kw=dict(width_ratios=[2, 1, 1] if video else [2, 1]))
    plot_kinds(axes[0], rows)
    plot_gains(axes[1], summary['overall']['dAP'])
    if video:
        plot_tube_split(axes[2], summary['overall']['counts'])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_kinds(ax, rows: List[Dict]) -> None:
    names = [f'{r["label"]} (missed {r["counts"]["missed"]}/{r["num_gt"]})' for r in rows]
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    for kind in DET_KINDS:
        key = 'tp' if kind == 'true_positive' else kind
        values = np.array([r['counts'][key] for r in rows], dtype=float)
        ax.barh(y, values, left=left, color=KIND_COLOURS[kind], label=kind.replace('_', ' '))
        left += values
    ax.set_yticks(y, names, fontsize=8)
    ax.set_title('detections by kind (per class, then all)')
    # Below the axes: inside, it would hide the bars of the last rows.
    ax.legend(fontsize=8, loc='upper center', bbox_to_anchor=(0.5, -0.07), ncol=len(DET_KINDS))


def plot_gains(ax, gains: Dict[str, Optional[float]]) -> None:
    values = [100 * (gains[k] or 0.0) for k in FIXES]
    ax.bar(range(len(FIXES)), values,
           color=[KIND_COLOURS.get(k, '#c94c4c') for k in FIXES])
    ax.set_xticks(range(len(FIXES)), [k.replace('_', ' ') for k in FIXES], fontsize=8,
                  rotation=30, ha='right')
    ax.set_ylabel('mAP gained (points)')
    ax.set_title('fixing every error of a kind')
    for x, value in enumerate(values):
        ax.annotate(f'{value:.2f}', (x, value), ha='center', va='bottom', fontsize=8)


def plot_tube_split(ax, counts: Dict[str, int]) -> None:
    groups = [('localisation errors', 'localisation'), ('missed tubes', 'missed')]
    parts = [('temporal', '#d8a13b'), ('spatial', '#3b7dd8'), ('undetected', '#9a9a9a')]
    for i, (part, colour) in enumerate(parts):
        values = [counts.get(f'{prefix}_{part}', 0) for _, prefix in groups]
        ax.bar(np.arange(len(groups)) + (i - 1) * 0.27, values, width=0.27, color=colour,
               label=part)
    ax.set_xticks(range(len(groups)), [g for g, _ in groups], fontsize=8)
    ax.set_ylabel('tubes')
    ax.set_title('temporal or spatial')
    ax.legend(fontsize=8)


# ------------------------------------------------------------------------ writing
def write_outputs(out_dir: str, payload: Dict, summaries: Dict[str, Dict]) -> List[str]:
    """``errors.json`` and one PNG per level, each written atomically."""
    paths = [osp.join(out_dir, 'errors.json')]
    with atomic_open(paths[0], 'w', encoding='utf-8') as f:
        json.dump(payload, f, indent=2)
    for level, summary in summaries.items():
        fig = plot_summary(summary, f'{level}-AP@{summary["iou_thr"]:g} errors '
                                    f'(protocol={summary["protocol"]})')
        paths.append(osp.join(out_dir, f'{level}_errors.png'))
        with atomic_open(paths[-1], 'wb') as f:
            fig.savefig(f, format='png', dpi=100)
        plt.close(fig)
    return paths


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Dict]:
    args = parse_args(argv)
    gt, videos, detections, tubes = load_inputs(args)
    summaries = analyse(args, gt, videos, detections, tubes)
    for level, summary in summaries.items():
        print(report(level, summary))
    out_dir = args.out_dir or osp.join(osp.dirname(osp.abspath(args.detections)),
                                       'error_analysis')
    payload = dict(summaries, inputs=dict(gt=args.gt, detections=args.detections,
                                          tubes=args.tubes, split=args.split,
                                          linked_tubes=bool(args.link_tubes and not args.tubes)))
    for path in write_outputs(out_dir, payload, summaries):
        print(f'wrote {path}')
    return summaries


if __name__ == '__main__':
    main(sys.argv[1:])
