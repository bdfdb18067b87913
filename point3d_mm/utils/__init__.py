"""The bottom layer: upstream patches (``compat``), checkpoint integrity and loading
(``checkpoint``), atomic writing of files and folders (``fileio``), safe unpickling
(``safe_pickle``), video decoding and frame folders (``video``), config checks
(``config_checks``), the tools' one-line errors (``cli``) and memory trimming (``memory``).
Import each from its module."""
