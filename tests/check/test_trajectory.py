"""The package's loop against torch.nn + MSELoss + torch.optim.SGD, in lockstep: every step's w and b."""

import torch

from backprop_manual import gradient_descent
from backprop_manual.check.trajectory import compare_trajectories
from tests.shared import EPOCHS, lesson_training, start


def test_manual_loop_follows_nn_sgd_step_by_step(device, dtype):
    manual, reference = lesson_training(dtype, device)  # 20 epochs at eta 1e-4, each (dtype, device) once
    report = compare_trajectories(manual.trajectory, reference.trajectory)
    assert report.steps == EPOCHS * 569
    assert report.ok, report.summary()


def test_manual_loop_keeps_dtype_device_and_shape(device, dtype):
    manual, _ = lesson_training(dtype, device)
    for t in (manual.w, manual.b, manual.trajectory):
        assert (t.device.type, t.dtype) == (device, dtype)
    assert manual.w.shape == manual.b.shape == torch.Size([])
    assert manual.trajectory.shape == (EPOCHS, 569, 3)


def test_trajectory_records_each_step_that_the_final_values_end(cell_data):
    w, b = start()
    with_steps = gradient_descent(w, b, cell_data.X, cell_data.y, epochs=2, trajectory=True)
    without = gradient_descent(w, b, cell_data.X, cell_data.y, epochs=2)
    assert without.trajectory is None
    assert (float(with_steps.trajectory[-1, -1, 0]), float(with_steps.trajectory[-1, -1, 1])) == (
        float(without.w),
        float(without.b),
    )
    assert (float(w), float(b)) == (2.0, -2.0), "the caller's parameters were changed in place"


def test_a_drifting_trajectory_is_reported_at_its_first_step(cell_data):
    reference = gradient_descent(*start(), cell_data.X, cell_data.y, epochs=3, trajectory=True).trajectory
    drifted = reference.clone()
    drifted[1, 7:, 1] += 1e-6  # b wrong from epoch 1, sample 7 on
    report = compare_trajectories(drifted, reference)
    assert (report.first.epoch, report.first.sample, report.first.parameter) == (1, 7, "b")
