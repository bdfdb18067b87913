# Paper Table 3 (JHMDB split 1): CP + KP + 3D Head + TWA, the full model (point3d_jhmdb.py),
# here so that the six rows of the table have one config each.
_base_ = ['../point3d_jhmdb.py']
