"""A real headless browser for tests: Debian's Chromium (`make browser`, a prerequisite of `make test`, installs
the `chromium` package where it is missing), driven by Playwright's Python package. Playwright's own browser
builds are not used: `playwright install` downloads them, and only package registries are reachable.

The fixtures (tests/conftest.py):

- `browser`: one Chromium for the whole session, launched on first use. Where Chromium is missing (not root, not
  Debian), every test using it skips, and the `-ra` summary says what to install.
- `page`: a new page in a new context for each test (no cookies, storage or cache shared), closed after it.
- `page_log`: what that page did: every request's URL, and the console errors, uncaught script errors and
  Content-Security-Policy violations (reported as console errors, whatever Chromium prints of its own).

A form, for instance a login page answering its POST with a 303 to another page:

    def test_login(page, page_log, server):
        page.goto(f"{server}/login")
        page.fill("input[name=id]", "alice")
        page.fill("input[name=password]", "secret")
        with page.expect_navigation():
            page.click("button[type=submit]")  # the browser follows the 303 itself
        assert page.url == f"{server}/account" and page_log.errors == []
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# The browser itself: /usr/bin/chromium is a shell script that adds flags from /etc/chromium.d.
CHROMIUM = Path("/usr/lib/chromium/chromium")
MISSING = (
    f"HEADLESS BROWSER TESTS SKIPPED: {CHROMIUM} not found. Install Debian's Chromium: `make browser` (as root),"
    " i.e. `apt-get install -y chromium`"
)
# Makes a CSP violation a console error, so that `page_log.errors` has it however Chromium reports it.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`);
});
"""


@dataclass
class PageLog:
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def attach(cls, page) -> PageLog:
        log = cls()
        page.on("request", lambda request: log.requests.append(request.url))
        page.on("console", lambda message: message.type == "error" and log.errors.append(message.text))
        page.on("pageerror", lambda error: log.errors.append(f"uncaught: {error}"))
        return log


def launch_browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def new_page(browser) -> Iterator:
    context = browser.new_context()
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    yield page
    context.close()
