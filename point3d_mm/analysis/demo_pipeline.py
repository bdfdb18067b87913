"""The steps of the main job (``tools/run_demo.py``, ``make demo``) that need the package:
generating the synthetic dataset, training (``mim train``), evaluating (``mim test``) and
drawing the demo video (``tools/demo.py``), each through the command a user would run.

Every step reuses what an earlier run left unless its inputs changed, and a step killed at
any moment is finished by the next run: the dataset appears under its final name only once
complete, training continues from its last intact checkpoint (``mim train --resume``), and
the evaluation and the demo video are redone unless :class:`StepRecords` says they are
complete for this checkpoint. The run's locks are ``tools/run_demo.py``'s (taken before this
module, which loads torch, is imported); the commands inherit them (``locks``).
"""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import mmengine

from ..datasets.preparation.synthetic_actions import SyntheticActions
from ..utils.checkpoint import file_sha256
from ..utils.fileio import atomic_folder, dump_json, remove_leftovers
from ..utils.safe_pickle import safe_pickle_load

#: What SyntheticActions.generate writes into the data root, and the demo's recipe record: the
#: only entries a data root that the demo replaces may hold (anything else is not ours).
DATA_ENTRIES = {'frames', 'ava', 'synthetic_gt.pkl', 'synthetic_val_gt.pkl',
                'synthetic_joints.pkl', 'demo_recipe.json'}
#: The ground truth of each evaluated split in the data root: validation videos choose the
#: linker, test videos report.
GT_FILES = dict(val='synthetic_val_gt.pkl', test='synthetic_gt.pkl')


def read_json(path: str):
    """The JSON at ``path``, or None when it is missing or unreadable (never written
    completely: every JSON here is written atomically, so this is a foreign file)."""
    try:
        return mmengine.load(path) if osp.exists(path) else None
    except ValueError:
        return None


def check_replaceable(data_root: str) -> None:
    """Raise ValueError naming them when ``data_root`` holds entries other than
    :data:`DATA_ENTRIES` (files that are not the synthetic dataset, never replaced)."""
    foreign = sorted(set(os.listdir(data_root)) - DATA_ENTRIES) if osp.exists(data_root) else []
    if foreign:
        raise ValueError(f'{data_root} must be regenerated but holds files that are not the '
                         f'synthetic dataset ({", ".join(foreign[:5])}); move them away or '
                         'pass another --data-root')


def generate_data(data_root: str, recipe: Dict) -> None:
    """Generate the dataset of ``recipe`` (:class:`SyntheticActions` arguments) in a folder
    beside ``data_root`` and swap it into place (``fileio.atomic_folder``): a killed generation
    leaves a ``.tmp`` folder (removed by the next generation), never a partial data root;
    killed during the swap, the data root is absent, which the next run regenerates.
    ``demo_recipe.json`` is written last, inside the temporary folder: with it, the data root
    is complete. The caller holds ``<data_root>.lock``.

    Raises:
        ValueError: ``data_root`` holds other files (:func:`check_replaceable`).
    """
    check_replaceable(data_root)
    with atomic_folder(data_root) as tmp:
        SyntheticActions(**recipe).generate(tmp)
        dump_json(recipe, osp.join(tmp, 'demo_recipe.json'))


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
        self.records = read_json(self.path) or {}

    def done(self, name: str, inputs: Dict, outputs) -> bool:
        return (self.records.get(name) == inputs
                and all(osp.isfile(path) for path in outputs))

    def record(self, name: str, inputs: Dict) -> None:
        self.records[name] = inputs
        dump_json(self.records, self.path)


class DemoSteps:
    """Steps 2-4 of the demo for one config, work dir and data root.

    Args:
        root: the checkout (or installed package's ``.mim``) holding ``tools/demo.py``; the
            commands run there.
        locks: file descriptors of the run's locks, inherited by every command so that the
            locks stay held while it runs even if the calling process dies first.
    """

    def __init__(self, root: str, config: str, work_dir: str, data_root: str,
                 locks: Sequence[int] = ()) -> None:
        self.root, self.config, self.work_dir, self.data_root = root, config, work_dir, data_root
        self.locks = tuple(locks)

    def run(self, cmd: List[str]) -> None:
        print('$ ' + ' '.join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=self.root, pass_fds=self.locks)

    @staticmethod
    def mim() -> str:
        return osp.join(osp.dirname(sys.executable), 'mim')

    def data_options(self, split: str = 'test') -> List[str]:
        """``--cfg-options`` pointing the config's datasets and evaluators at the data root
        (config variables are resolved when the config is read, so each user gets it), the
        validation loop at the validation videos and the test loop at ``split``'s."""
        options = [f'{loader}.dataset.data_root={self.data_root}'
                   for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
        for loader, evaluator, gt in (('val_dataloader', 'val_evaluator', GT_FILES['val']),
                                      ('test_dataloader', 'test_evaluator', GT_FILES[split])):
            options.append(f'{loader}.dataset.ann_file={gt}')
            options += [f'{evaluator}.{i}.ann_file={osp.join(self.data_root, gt)}'
                        for i in (0, 1)]
        return options

    def train(self, recipe: Dict, iters: Optional[int] = None, resume: bool = True,
              seed: int = 0) -> Dict:
        """Step 2: ``mim train`` with ``seed`` (``randomness.seed``). With ``resume`` (the data
        was reused, no ``--fresh``) and the work dir last trained on ``recipe`` and ``seed``,
        ``--resume`` continues an interrupted run from
        its last intact checkpoint (tools/train.py's resume_fallback) and returns at once when
        training is complete; otherwise training starts afresh.

        Returns:
            What the later steps were computed from: the checkpoint, its SHA-256, the config
            and the data recipe.
        """
        started = time.time()
        remove_leftovers(self.work_dir)  # of killed atomic writes; safe: the run holds its lock
        trained_on = osp.join(self.work_dir, 'demo_recipe.json')
        record = dict(recipe, train_seed=seed)
        resume = resume and read_json(trained_on) == record
        if not resume:
            forget_checkpoints(self.work_dir)
        options = self.data_options() + [f'randomness.seed={seed}']
        if iters:
            options += [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}']
        dump_json(record, trained_on)
        self.run([self.mim(), 'train', 'point3d_mm', self.config, '--gpus', '0', '--work-dir',
                  self.work_dir, *(['--resume'] if resume else []), '--cfg-options', *options])
        with open(osp.join(self.work_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        print(f'training step took {time.time() - started:.0f} s; checkpoint {checkpoint}')
        return dict(checkpoint=checkpoint, sha256=file_sha256(checkpoint),
                    config=osp.abspath(self.config), data=recipe, seed=seed)

    def evaluate(self, trained: Dict, records: StepRecords, split: str = 'test'
                 ) -> Dict[str, str]:
        """Step 3: ``mim test`` (frame-mAP and video-mAP with the config's linker) on the
        videos of ``split`` (``val`` or ``test``), unless done for this checkpoint.

        Returns:
            The output files: ``metrics``, ``detections``, ``tubes``.
        """
        outputs = {name: osp.join(self.work_dir, f'{split}_{name}.{ext}') for name, ext in (
            ('metrics', 'json'), ('detections', 'pkl'), ('tubes', 'pkl'))}
        if records.done(split, trained, outputs.values()):
            print(f'reusing {outputs["metrics"]} (evaluated with this checkpoint)')
            return outputs
        self.run([self.mim(), 'test', 'point3d_mm', self.config, '--checkpoint',
                  trained['checkpoint'], '--gpus', '0', '--work-dir', self.work_dir,
                  '--out-metrics', outputs['metrics'], '--cfg-options',
                  *self.data_options(split),
                  f'test_evaluator.0.dump_detections={outputs["detections"]}',
                  f'test_evaluator.1.dump_tubes={outputs["tubes"]}'])
        records.record(split, trained)
        return outputs

    def tune_linker(self, trained: Dict, records: StepRecords, val_detections: str,
                    test_detections: str) -> Dict[str, str]:
        """Step 3, linking: ``tune_linker.py`` chooses the linker's settings on the validation
        detections, ``eval_detections.py`` scores the test detections with them (the test
        videos choose nothing), unless done for this checkpoint.

        Returns:
            The output files: ``linker`` (the config snippet), ``tuning`` (every setting
            and its validation scores) and ``metrics`` (test metrics with the chosen linker).
        """
        outputs = dict(linker=osp.join(self.work_dir, 'tuned_linker.py'),
                       tuning=osp.join(self.work_dir, 'linker_tuning.json'),
                       metrics=osp.join(self.work_dir, 'test_metrics_tuned_linker.json'))
        if records.done('tune_linker', trained, outputs.values()):
            print(f'reusing {outputs["linker"]} (tuned on this checkpoint\'s detections)')
            return outputs
        tools = osp.join(self.root, 'tools', 'analysis')
        self.run([sys.executable, osp.join(tools, 'tune_linker.py'),
                  osp.join(self.data_root, GT_FILES['val']), val_detections, '--config',
                  self.config, '--out', outputs['linker'], '--out-json', outputs['tuning']])
        linker = mmengine.Config.fromfile(outputs['linker']).linker
        self.run([sys.executable, osp.join(tools, 'eval_detections.py'),
                  osp.join(self.data_root, GT_FILES['test']), test_detections, '--linker',
                  json.dumps(dict(linker)), '--out', outputs['metrics']])
        records.record('tune_linker', trained)
        return outputs

    def draw_video(self, trained: Dict, records: StepRecords, streaming: bool = False,
                   show_heatmap: bool = False) -> Dict[str, str]:
        """Step 4: ``tools/demo.py`` on the first test video, unless done for this checkpoint
        and these options.

        Returns:
            The output files: ``video`` (annotated mp4) and ``tubes_json``.
        """
        gt_file = osp.join(self.data_root, 'synthetic_gt.pkl')
        test_video = sorted(safe_pickle_load(gt_file)['test_videos'][0])[0]
        outputs = dict(video=osp.join(self.work_dir, f'demo_{test_video}.mp4'),
                       tubes_json=osp.join(self.work_dir, f'demo_{test_video}_tubes.json'))
        inputs = dict(trained, video=test_video, streaming=streaming,
                      show_heatmap=show_heatmap)
        if records.done('demo', inputs, outputs.values()):
            print(f'reusing {outputs["video"]} (drawn with this checkpoint and these options)')
            return outputs
        self.run([sys.executable, osp.join(self.root, 'tools', 'demo.py'),
                  osp.join(self.data_root, 'frames', test_video), self.config,
                  trained['checkpoint'], '--out-video', outputs['video'],
                  '--out-json', outputs['tubes_json'],
                  *(['--streaming'] if streaming else []),
                  *(['--show-heatmap'] if show_heatmap else [])])
        records.record('demo', inputs)
        return outputs
