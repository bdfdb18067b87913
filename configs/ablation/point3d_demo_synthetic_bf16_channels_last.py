# The demo trained under bf16 autocast with every convolution channels-last: the pair that made
# inference 2.4x faster at paper scale on CPUs with native bf16 (docs/benchmarks.md), for
# training. On a CPU without native bf16 (AVX2 only) bf16 is emulated and slower: price it on
# an AVX-512 host with avx512_bf16 or AMX. Adopted by the demo only if its 3-seed means stay
# within the demo's spread.
_base_ = ['./point3d_demo_synthetic_bf16.py']

custom_hooks = [dict(type='ChannelsLastHook')]
