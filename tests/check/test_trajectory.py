"""The package's loop against torch.nn + MSELoss + torch.optim.SGD, in lockstep: every step's w and b."""

from functools import cache

import torch

from backprop_manual import gradient_descent, load_cell_data, nn_sgd_descent
from backprop_manual.check.trajectory import compare_trajectories

EPOCHS, ETA = 20, 1e-4


@cache  # each (device, dtype) pair trains once, however many tests read it
def train_both(device, dtype):
    data = load_cell_data(dtype=dtype, device=device)
    w, b = torch.tensor(2.0, dtype=dtype, device=device), torch.tensor(-2.0, dtype=dtype, device=device)
    manual = gradient_descent(w, b, data.X, data.y, eta=ETA, epochs=EPOCHS, trajectory=True)
    reference = nn_sgd_descent(w, b, data.X, data.y, eta=ETA, epochs=EPOCHS, trajectory=True)
    return manual, reference


def test_manual_loop_follows_nn_sgd_step_by_step(device, dtype):
    manual, reference = train_both(device, dtype)
    report = compare_trajectories(manual.trajectory, reference.trajectory)
    assert report.steps == EPOCHS * 569
    assert report.ok, report.summary()


def test_manual_loop_keeps_dtype_device_and_shape(device, dtype):
    manual, _ = train_both(device, dtype)
    for t in (manual.w, manual.b, manual.trajectory):
        assert (t.device.type, t.dtype) == (device, dtype)
    assert manual.w.shape == manual.b.shape == torch.Size([])
    assert manual.trajectory.shape == (EPOCHS, 569, 3)


def test_trajectory_records_each_step_that_the_final_values_end():
    data = load_cell_data()
    w, b = torch.tensor(2.0, dtype=torch.float64), torch.tensor(-2.0, dtype=torch.float64)
    with_steps = gradient_descent(w, b, data.X, data.y, epochs=2, trajectory=True)
    without = gradient_descent(w, b, data.X, data.y, epochs=2)
    assert without.trajectory is None
    assert (float(with_steps.trajectory[-1, -1, 0]), float(with_steps.trajectory[-1, -1, 1])) == (
        float(without.w),
        float(without.b),
    )
    assert (float(w), float(b)) == (2.0, -2.0), "the caller's parameters were changed in place"


def test_a_drifting_trajectory_is_reported_at_its_first_step():
    data = load_cell_data()
    w, b = torch.tensor(2.0, dtype=torch.float64), torch.tensor(-2.0, dtype=torch.float64)
    reference = gradient_descent(w, b, data.X, data.y, epochs=3, trajectory=True).trajectory
    drifted = reference.clone()
    drifted[1, 7:, 1] += 1e-6  # b wrong from epoch 1, sample 7 on
    report = compare_trajectories(drifted, reference)
    assert (report.first.epoch, report.first.sample, report.first.parameter) == (1, 7, "b")
