"""The browser helper: Debian's chromium found, or installed, or one clear line why not."""

from __future__ import annotations

import pytest

from mlpipeline.stack import browser


def test_a_missing_chromium_that_cannot_be_installed_says_what_to_install(monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.setattr(browser.os, "geteuid", lambda: 1000)  # not root: no apt-get install
    with pytest.raises(browser.BrowserError, match="apt-get install --no-install-recommends"):
        browser.chromium()
