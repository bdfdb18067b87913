"""Studies and measurements built on the package, the back ends of ``tools/analysis/`` and
``tools/run_demo.py``; not the public API (that is :mod:`point3d_mm.apis`). Each module is
imported by its own name:

* the benchmarks, one module per family: :mod:`.inference_latency`, :mod:`.data_loading`,
  :mod:`.training_speed`, :mod:`.training_memory` (with :mod:`.training_memory_summary`),
  :mod:`.evaluation_speed` (against mmaction2), :mod:`.demo_memory`; the peers of
  :mod:`.inference_latency` (:mod:`.peer_pipeline`); the configs they run:
  :mod:`.benchmark_configs`; timing and memory readers: :mod:`point3d_mm.utils.benchmark`;
* the studies: the ablation grid (:mod:`.ablation`), TWA inspection (:mod:`.twa_inspection`),
  linker settings chosen on validation detections (:mod:`.linker_tuning`), the price of the
  3D Head interval (:mod:`.head_interval_price`);
* the demo's steps (:mod:`.demo_pipeline`).
"""
