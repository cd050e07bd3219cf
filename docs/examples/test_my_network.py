from my_network import backward, example, forward

import backprop_manual as bm


def test_my_backward_matches_autograd(device, dtype):  # device, dtype: from backprop_manual's pytest plugin
    params, inputs = example(dtype, device)
    bm.verify_chain(forward, backward, params, inputs).assert_ok()
