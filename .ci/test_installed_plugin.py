"""Run by .ci/run against the installed wheel, from a folder outside the clone: the installed plugin (entry point
pytest11) gives any project the `device` and `dtype` fixtures; without it this file fails ("fixture 'device' not
found")."""

import torch


def test_a_tensor_lands_where_the_plugin_says(device, dtype):
    x = torch.linspace(-1, 1, 5, device=device, dtype=dtype)
    assert (x.device.type, x.dtype) == (device, dtype)
