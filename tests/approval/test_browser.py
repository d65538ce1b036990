"""A person in a real (headless) Chromium, against the twin: open the approve link from the SNS message,
read the page, press the button; the function's memory changes and the audit says who and what."""

from __future__ import annotations

import shutil

import pytest
from approval_support import link_in
from playwright.sync_api import sync_playwright
from twin_support import Live

from lambda_tuner.adapters import aws

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FN = "orders-api"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None, reason="chromium is not installed at /usr/bin/chromium"
    ),
]


def _memory() -> int:
    return int(aws.client("lambda").get_function_configuration(FunctionName=FN)["MemorySize"])


def test_approving_in_a_browser_applies_the_change(live: Live) -> None:
    link = link_in(live.deployed.propose(live.url, function=FN, revision_id=live.revision(FN)), "approve")
    csp_violations: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on(
                "console", lambda m: csp_violations.append(m.text) if "Content Security" in m.text else None
            )
            # Given the confirmation page opened from the email
            response = page.goto(link)
            assert response is not None and response.status == 200
            assert response.headers["x-frame-options"] == "DENY"
            assert page.get_by_role("heading", name="Approve this change?").is_visible()
            assert page.get_by_text("memory 1024 → 512 MB").is_visible()
            assert page.locator("svg[role=img]").is_visible()  # the chart, drawn inline
            button = page.get_by_role("button", name="Approve and apply")
            # The inline stylesheet is allowed by its hash: the button is green
            assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(26, 127, 55)"
            assert _memory() == 1024  # looking changed nothing
            # When the person presses approve
            with page.expect_navigation():
                button.click()
            # Then the result page says so
            assert page.get_by_role("heading", name="Approved").is_visible()
        finally:
            browser.close()
    # And the function's memory changed, and the audit records who approved and what changed
    assert _memory() == 512
    approval_record, change = live.deployed.store.list_audit()
    assert approval_record.type == "approval" and "HeadlessChrome" in str(approval_record.data["user_agent"])
    assert approval_record.data["source_ip"] == "127.0.0.1"
    assert change.type == "change" and change.data["after"]["memory_mb"] == 512  # type: ignore[index]
    assert csp_violations == []
    assert live.twin.calls["lambda.InvokeFunctionUrl"] == 2  # one GET, one POST
