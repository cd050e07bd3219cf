"""The per-sample loop's benchmarked variants, each checked to give the reference's w and b
(tests/variants/test_variants.py) before benchmarks/ times it.

autograd_loop.py  loss.backward() per sample, a plain update
fused_loop.py     the hand-derived chain rule fused into 10 tensor ops per step
per_sample.py     all per-sample gradients at once: manual vectorized, per-sample leaves, torch.func.vmap(grad)
float_loop.py     the same loop in plain Python floats (the floor of the Python interpreter)
numba_loop.py     the same loop compiled by numba, float64 or float32 (the machine floor; the extra numba)
cuda_graph.py     the fused step captured once as a CUDA graph and replayed
"""
