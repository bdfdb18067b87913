from .hooks import NumClassesCheckHook
from .optim_constructor import Point3DOptimWrapperConstructor

__all__ = ['NumClassesCheckHook', 'Point3DOptimWrapperConstructor']
