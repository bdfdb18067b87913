from .optim_constructor import Point3DOptimWrapperConstructor

__all__ = ['Point3DOptimWrapperConstructor']
