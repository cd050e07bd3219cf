"""The progress bar: drawn on a terminal, scaled (1.00M rows), gone when done; nothing at all in a pipe or CI log."""

import fcntl
import io
import os
import struct
import termios

import pytest
import torch

from backprop_manual.progress import bar
from backprop_manual.training import side_by_side


class Terminal(io.StringIO):
    """What the bar writes, kept as text; a pseudo-terminal behind fileno() for its size."""

    def __init__(self, columns: int = 100):
        super().__init__()
        self.leader, self.follower = os.openpty()
        self.resize(columns)

    def resize(self, columns: int) -> None:
        fcntl.ioctl(self.follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.follower

    def close(self) -> None:
        os.close(self.leader)
        os.close(self.follower)


@pytest.fixture
def stderr(monkeypatch):
    streams = []

    def use(stream):
        monkeypatch.setattr("sys.stderr", stream)
        streams.append(stream)
        return stream

    yield use
    for stream in streams:
        if isinstance(stream, Terminal):
            stream.close()


def last_line(stream: io.StringIO) -> str:
    return stream.getvalue().split("\r")[-1]


def test_on_a_terminal_the_bar_counts_in_scaled_units_and_is_erased_when_done(stderr):
    terminal = stderr(Terminal())
    with bar(2_000_000, "verifying gradients", " rows") as progress:
        progress.update(1_000_000)
        progress.refresh()
        assert last_line(terminal).startswith("verifying gradients:  50%")
        assert "1.00M/2.00M [" in last_line(terminal) and last_line(terminal).endswith(" rows/s]")
    assert last_line(terminal).strip() == "" and not terminal.getvalue().endswith("\n"), "no bar left behind"


def test_the_bar_follows_the_terminals_width(stderr):
    terminal = stderr(Terminal(columns=61))  # tqdm keeps the last column free
    with bar(1000, "training", " steps") as progress:
        progress.update(10)
        progress.refresh()
        assert len(last_line(terminal)) == 60
        terminal.resize(101)  # the window was widened
        progress.update(10)
        progress.refresh()
        assert len(last_line(terminal)) == 100


def test_in_a_pipe_nothing_is_written(stderr):
    pipe = stderr(io.StringIO())  # isatty() is False, as for a pipe or a CI log
    with bar(1000, "training", " steps") as progress:
        progress.update(1000)
    assert pipe.getvalue() == ""


def test_training_side_by_side_counts_its_steps_on_the_bar(stderr):
    terminal = stderr(Terminal())
    w, b = torch.tensor(2.0), torch.tensor(-2.0)
    X, y = torch.tensor([1.0, 0.5, 1.5]), torch.tensor([1.0, 0.0, 1.0])
    side_by_side(w, b, X, y, eta=1e-4, epochs=2, block=2)
    first = terminal.getvalue().split("\r")[1]  # tqdm draws at the start, then at most every 0.1 s
    assert first.startswith("training:   0%|") and first.endswith("| 0.00/6.00 [00:00<?, ? steps/s]"), first
