"""The lesson's next steps, each derived by hand on the chain verifier (backprop_manual.check).

Every derivation module (and a user's own file given to `backprop-manual verify --derivation path.py`) defines:
    forward(**params, **inputs) -> {"name": tensor, ..., "loss": J}     the named intermediates, in the order computed
    backward(fwd, **params, **inputs) -> {"name": dJ/d(name), ...}      by hand
    example(dtype, device) -> (params, inputs)                           a point to verify it at
and may define PER_SAMPLE = True (one J per sample, see verify_chain), LR (a learning rate for training) and
CHECK_INPUTS = ("x",) (inputs whose dJ/d(input) is checked too, verify_chain's check_inputs: never trained).
"""

# name -> (module, one-line description), in the order the lesson takes them
SHIPPED: dict[str, tuple[str, str]] = {
    "neuron": ("backprop_manual.derivations.neuron", "the lesson's neuron, one sample per J: z = w·x + b, σ, (σ − y)²"),
    "matrix": (
        "backprop_manual.derivations.matrix",
        "the neuron in matrix form on 30 features: z = Xw + b, J = mean (σ − y)²",
    ),
    "logistic": (
        "backprop_manual.derivations.logistic",
        "logistic regression, binary cross-entropy: dJ/dz = (σ − y)/N",
    ),
    "hidden-tanh": ("backprop_manual.derivations.hidden", "d → H → 1 with tanh, sigmoid output, BCE"),
    "hidden-relu": (
        "backprop_manual.derivations.hidden_relu",
        "d → H → 1 with ReLU (dReLU/dz at 0 is 0), sigmoid, BCE",
    ),
    "softmax": (
        "backprop_manual.derivations.softmax",
        "softmax cross-entropy over C classes (iris, C = 3): dJ/dlogits = (p − onehot)/N",
    ),
    "batchnorm": (
        "backprop_manual.derivations.batchnorm",
        "backprop ninja: embedding, linear, batch norm (Bessel), tanh, cross-entropy written out; 26 gradients",
    ),
    "batchnorm-fused": (
        "backprop_manual.derivations.batchnorm_fused",
        "the same MLP, the cross-entropy and the batch norm backward each fused into one formula",
    ),
    "layernorm": (
        "backprop_manual.derivations.layernorm",
        "LayerNorm (llm.c): dJ/dx = rstd·(dn − mean(dn) − n·mean(dn·n)), J a random projection",
    ),
    "gelu": (
        "backprop_manual.derivations.gelu",
        "GELU, tanh approximation, step by step: x's two uses added",
    ),
    "gelu-fused": (
        "backprop_manual.derivations.gelu_fused",
        "GELU, tanh approximation, fused as llm.c's gelu_backward: dJ/dx = gelu'(x) dJ/dout",
    ),
    "attention": (
        "backprop_manual.derivations.attention",
        "causal multi-head self-attention, the plain backward: p kept from the forward",
    ),
    "attention-flash": (
        "backprop_manual.derivations.attention_flash",
        "the same attention, the flash-style backward: p from the scores and the rows' lse, the mask applied again",
    ),
    "embedding": (
        "backprop_manual.derivations.embedding",
        "token + position embedding, cross-entropy over a vocabulary of 64 through the tied head: wte's grads add",
    ),
    "block": (
        "backprop_manual.derivations.block",
        "a pre-LN transformer block as llm.c's GPT-2 layer: ln1, attention, residual, ln2, MLP (GELU), residual",
    ),
}
