"""pytest plugin loaded by `cargo xtask conformance` (`-p berth_conformance`).

A test marked xfail that passes ("XPASS") is a pass in pytest's JUnit report,
indistinguishable from any other. docker-py marks tests xfail where dockerd
fails them, so an XPASS means berthd behaves unlike dockerd. This plugin
gives such tests a `berth-xpass` property in the report, so the harness
can count them and keep them off the ratchet.
"""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.passed and hasattr(report, "wasxfail"):
        # Properties of the item reach the report of its teardown, which is
        # what the JUnit writer reads them from.
        item.user_properties.append(("berth-xpass", report.wasxfail or "xfail"))
