from .compat import CheckpointSecurityError, apply_all, atomic_write
from .launch import ConfigKeyError, apply_amp, check_cfg_options, prepare_launcher
from .safe_pickle import UnsafePickleError, safe_pickle_load, safe_pickle_loads

__all__ = [
    'CheckpointSecurityError', 'ConfigKeyError', 'UnsafePickleError', 'apply_all',
    'apply_amp', 'atomic_write', 'check_cfg_options', 'prepare_launcher', 'safe_pickle_load',
    'safe_pickle_loads'
]
