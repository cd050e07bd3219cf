"""The shipped distributed derivations: each module defines reference(), sharded(rank, world_size) and layouts.

`backprop-manual verify --derivation NAME [--world-size N]` runs one; a user's file may define the same three.
"""

# name -> (module, the sharded function's name, one-line description)
DISTRIBUTED: dict[str, tuple[str, str, str]] = {
    "tp-mlp": (
        "backprop_manual.distributed.derivations.tp_mlp",
        "sharded",
        "tensor-parallel MLP, column- then row-parallel: Megatron's copy/reduce Functions' backward (distributed)",
    ),
    "tp-mlp-by-hand": (
        "backprop_manual.distributed.derivations.tp_mlp",
        "sharded_by_hand",
        "the same tensor-parallel MLP with its sharded backward written by hand (distributed)",
    ),
    "data-parallel": (
        "backprop_manual.distributed.derivations.data_parallel",
        "sharded",
        "data parallel: a slice of the batch per rank, the global mean's gradient averaged as DDP does (distributed)",
    ),
    "sp-layernorm": (
        "backprop_manual.distributed.derivations.sp_layernorm",
        "sharded",
        "sequence-parallel LayerNorm: a slice of the sequence per rank, dγ and dβ all-reduced (distributed)",
    ),
    "ring-attention": (
        "backprop_manual.distributed.derivations.ring_attention",
        "sharded",
        "causal ring attention: K/V blocks and their dK/dV passed round the ring, batch_isend_irecv (distributed)",
    ),
}
