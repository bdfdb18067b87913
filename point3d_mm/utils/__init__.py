"""The bottom layer: upstream patches (``compat``), atomic file writing (``fileio``), safe
unpickling (``safe_pickle``), video decoding (``video``), config checks (``config_checks``)
and memory trimming (``memory``). Import each from its module."""
