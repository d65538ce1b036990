"""A person in a real (headless) Chromium: open the approve link from the SNS message, read the page,
press the button; the function's memory changes and the audit says who and what."""

from __future__ import annotations

import shutil

import pytest
from approval_support import APPROVAL_FN as FN
from approval_support import Deployed, FunctionUrl, link_in, route_invokes
from playwright.sync_api import sync_playwright

from lambda_tuner.adapters import aws
from lambda_tuner.handlers import apply, approval

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

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None, reason="chromium is not installed at /usr/bin/chromium"
    ),
]


def test_approving_in_a_browser_applies_the_change(deployed: Deployed) -> None:
    server = FunctionUrl(approval.handler, lambda: deployed.now)
    csp_violations: list[str] = []
    try:
        link = link_in(deployed.propose(server.url), "approve")
        with (
            sync_playwright() as pw,
            route_invokes(aws.client("lambda"), {"lt-apply": apply.handler}) as invoked,
        ):
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.on(
                "console",
                lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None,
            )
            # Given the confirmation page opened from the email
            response = page.goto(link)
            assert response is not None and response.status == 200
            assert page.get_by_role("heading", name="Approve this change?").is_visible()
            assert page.get_by_text("memory 1024 → 512 MB").is_visible()
            assert page.locator("svg[role=img]").is_visible()  # the chart, drawn inline
            button = page.get_by_role("button", name="Approve and apply")
            # The inline stylesheet is allowed by its hash: the button is green, no CSP complaint
            assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(26, 127, 55)"
            assert invoked == [] and deployed.account.memory(FN) == 1024
            # When the person presses approve
            with page.expect_navigation():
                button.click()
            # Then the result page says so, the memory changed, and the audit records who and what
            assert page.get_by_role("heading", name="Approved").is_visible()
            browser.close()
    finally:
        server.close()
    assert invoked == ["lt-apply"]
    assert deployed.account.memory(FN) == 512
    approval_record, change = deployed.store.list_audit()
    assert approval_record.type == "approval" and "HeadlessChrome" in str(approval_record.data["user_agent"])
    assert approval_record.data["source_ip"] == "127.0.0.1"
    assert change.type == "change" and change.data["after"]["memory_mb"] == 512  # type: ignore[index]
    assert csp_violations == []
    assert server.requests == [("GET", 200), ("POST", 200)]
