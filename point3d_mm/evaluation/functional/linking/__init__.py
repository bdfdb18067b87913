"""Linking per-frame action detections into action tubes (pure numpy).

:class:`~.base.TubeLinkerBase` holds what every linker shares (settings, checks, per-frame
preparation, interpolation, trimming, tube scoring, tube NMS and listing); each linker is
its path search: :class:`~.online.TubeLinker`, greedy and online (ACT, MOC-Detector), and
:class:`~.viterbi.ViterbiTubeLinker`, Gkioxari & Malik's Viterbi search (the paper's).
``point3d_mm.evaluation`` registers both into mmaction2's ``TASK_UTILS`` so that configs can
name them.
"""
from .base import TubeLinkerBase
from .online import TubeLinker
from .trimming import viterbi_trim
from .viterbi import ViterbiTubeLinker

__all__ = ['TubeLinkerBase', 'TubeLinker', 'ViterbiTubeLinker', 'viterbi_trim']
