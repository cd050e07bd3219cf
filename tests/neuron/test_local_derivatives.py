"""The local derivatives of neuron/local_derivatives.py on their own, against autograd; the chain rule they make
is verified in tests/neuron_check/test_verify.py, and each one's use by the loop in tests/neuron/test_loop.py."""

import torch

from backprop_manual.neuron import local_derivatives


def test_dsigma_dz_computes_sigma_itself_when_not_given_it():
    z = torch.linspace(-5, 5, 11, dtype=torch.float64, requires_grad=True)
    torch.sigmoid(z).sum().backward()
    torch.testing.assert_close(local_derivatives.delta_sigma_delta_z(z.detach()), z.grad)
