"""point3d_mm: Point3D spatio-temporal action detection as an OpenMMLab plugin.

Importing the package patches the known breakages of the pinned stack (before the first
``mmaction`` import) and registers every part into mmaction2's registries.
"""
from .utils import compat

compat.apply_all()

# (imported for their registration)
from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
