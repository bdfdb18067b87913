"""The configs the benchmarks of :mod:`point3d_mm.analysis` run, by short name, and where
the checkout (configs/, tools/) is."""
import os.path as osp

_PACKAGE = osp.dirname(osp.dirname(osp.realpath(__file__)))
#: The folder holding ``point3d_mm``: first on the PYTHONPATH of a measured child process.
IMPORT_ROOT = osp.dirname(_PACKAGE)
#: Where configs/ and tools/ are: the checkout, or the package's .mim of an installed wheel.
REPO = (osp.join(_PACKAGE, '.mim') if osp.isdir(osp.join(_PACKAGE, '.mim', 'configs'))
        and not osp.isdir(osp.join(osp.dirname(_PACKAGE), 'configs')) else osp.dirname(_PACKAGE))
#: Short names of the configs the benchmarks time (files under ``REPO/configs``).
CONFIGS = dict(tiny='configs/point3d_tiny_synthetic.py', paper='configs/point3d_ucf24.py',
               ucf24='configs/point3d_ucf24.py', jhmdb='configs/point3d_jhmdb.py',
               ava='configs/point3d_ava.py')


def config_path(name: str) -> str:
    """A short name of :data:`CONFIGS` or a config file, as an absolute path."""
    return osp.join(REPO, CONFIGS[name]) if name in CONFIGS else osp.abspath(name)


def config_name(path: str) -> str:
    """The short name of a config (``ucf24`` ...), else its file name without extension."""
    for short, relative in CONFIGS.items():
        if short != 'paper' and path in (short, osp.join(REPO, relative)):
            return short
    return osp.splitext(osp.basename(path))[0]
