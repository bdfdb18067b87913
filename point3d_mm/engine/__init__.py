from .hooks import ChannelsLastHook, CounterSeededRNGHook, NumClassesCheckHook
from .loops import CachedFeatureTestLoop, CachedFeatureValLoop
from .optim_constructor import Point3DOptimWrapperConstructor
from .visualization_hook import Point3DVisualizationHook

__all__ = [
    'CachedFeatureTestLoop', 'CachedFeatureValLoop', 'ChannelsLastHook', 'CounterSeededRNGHook',
    'NumClassesCheckHook', 'Point3DOptimWrapperConstructor', 'Point3DVisualizationHook'
]
