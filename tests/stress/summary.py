"""The stress battery's summary, printed at the end of `pytest -m stress`: gathered from what each
test_correct_derivation_verifies recorded (its `battery` property), on whichever worker it ran (pytest-xdist sends
each report's properties to the controller), so that nothing is verified twice for it. A plugin the root conftest.py
loads (pytest_plugins), because pytest-xdist's controller collects nothing and so never reads tests/stress/conftest.py.

    N verifications, E elements (C compared in rows), S s in verify_chain; F false alarms (per category and dtype)
    largest |diff| / allowance: R at <case>-<dtype>-seed<k>, dJ/d<name>

Each verification is judged by its own test (no false alarm, the ratio held); this only adds them up.
"""

from collections import Counter

_RESULTS: list[list] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _RESULTS.extend(value for key, value in report.user_properties if key == "battery")


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    from tests.stress import battery  # only when the battery ran: every other run loads this plugin too

    ids, categories, dtypes, ok, ratios, names, elements, compared, seconds = zip(*_RESULTS, strict=True)
    failing = Counter((c, d) for c, d, o in zip(categories, dtypes, ok, strict=True) if not o)
    worst = max(range(len(ratios)), key=ratios.__getitem__)
    write = terminalreporter.write_line
    terminalreporter.section("the stress battery")
    write(
        f"{len(ids)} verifications, {sum(elements)} elements ({sum(compared)} compared in rows), "
        f"{sum(seconds):.1f} s in verify_chain; {sum(failing.values())} false alarms"
        + "".join(f"\n  {cat} {dt}: {n}" for (cat, dt), n in sorted(failing.items()))
    )
    write(f"largest |diff| / allowance: {ratios[worst]:.3g} at {ids[worst]}, dJ/d{names[worst]}")
    if ratios[worst] > battery.RATIO_BOUND:
        write(f"  over the {battery.RATIO_BOUND} aimed at")
