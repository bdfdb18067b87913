from .hooks import NumClassesCheckHook
from .loops import CachedFeatureTestLoop, CachedFeatureValLoop
from .optim_constructor import Point3DOptimWrapperConstructor

__all__ = [
    'CachedFeatureTestLoop', 'CachedFeatureValLoop', 'NumClassesCheckHook',
    'Point3DOptimWrapperConstructor'
]
