"""The figures the lesson prints, reproduced by computation to its 4 decimals, and its loop's bug caught."""

import pytest
import torch

from backprop_manual.neuron import gradients, lesson_loop
from backprop_manual.neuron.passes import forward
from backprop_manual.neuron_check.trajectory import compare_trajectories
from tests.shared import cell_data, lesson_training, start

CELL_DATA = cell_data()  # float64, as the lesson's tensors are


def printed(t: torch.Tensor) -> float:
    return round(float(t), 4)


def test_first_sample_is_the_lessons():
    assert (float(CELL_DATA.X[0]), float(CELL_DATA.y[0])) == (1.001, 1.0)


def test_first_sample_forward_figures():
    w, b = start()
    fp = forward(w, CELL_DATA.X[0], b, CELL_DATA.y[0])
    assert (printed(fp.z), printed(fp.y_hat)) == (0.0020, 0.5005)


def test_first_sample_gradient_figures():
    w, b = start()
    g = gradients(w, CELL_DATA.X[0], b, CELL_DATA.y[0])
    assert tuple(map(printed, g)) == (-0.9990, -0.2497, -0.2500, -0.2497)


@pytest.mark.heavy
def test_lessons_loop_as_written_ends_where_the_lesson_says():
    X_tensor = CELL_DATA.X.reshape(-1, 1)  # the lesson's [569, 1] float64 column
    y_tensor = CELL_DATA.y.long()  # and its int64 target
    result = lesson_loop(X_tensor, y_tensor)  # w = torch.tensor(2.), b = torch.tensor(-2.)
    assert (printed(result.w), printed(result.b)) == (2.0255, -1.9746)
    # the promotion the lesson shows and our loop refuses: 0-d float32 in, float64 of shape [1] out
    assert (result.w.dtype, result.w.shape) == (torch.float64, torch.Size([1]))


@pytest.mark.heavy
def test_correct_loop_ends_at_the_corrected_figures():
    result, _ = lesson_training(torch.float64, "cpu")  # gradient_descent, 20 epochs at eta 1e-4
    assert (printed(result.w), printed(result.b)) == (2.0479, -1.9754)


def test_verification_flags_the_lessons_loop_at_its_first_wrong_step():
    _, reference = lesson_training(torch.float64, "cpu")  # nn_sgd_descent, 20 epochs at eta 1e-4
    lesson = lesson_loop(CELL_DATA.X.reshape(-1, 1), CELL_DATA.y.long(), trajectory=True)
    report = compare_trajectories(lesson.trajectory, reference.trajectory)
    # sample 0 is first_x itself, so the first step is right; sample 1 uses first_x = 1.001 for its x = 1.326
    assert (report.first.epoch, report.first.sample, report.first.parameter) == (0, 1, "w"), report.summary()
    assert "epoch 0, sample 1, parameter w" in report.summary()


def test_lessons_loop_as_written_reproduces_the_lesson_on_every_device(device):
    X, y, _ = cell_data(torch.float64, device)
    result = lesson_loop(X.reshape(-1, 1), y.long())
    assert (round(float(result.w), 4), round(float(result.b), 4)) == (2.0255, -1.9746)
    assert result.w.device.type == device
