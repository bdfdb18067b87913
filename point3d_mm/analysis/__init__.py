"""Studies and measurements built on the package: the ablation grid, the demo's steps,
benchmarks. Tools' back ends, not the public API (that is :mod:`point3d_mm.apis`); each
module is imported by its own name."""
