"""The status page in a real headless browser: Debian's chromium, driven by selenium through the
system chromedriver (no browser is downloaded)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.engine.ops._fixtures import TOKEN, ops_engine, strategy_orders, url, wait_open_order
from tests.helpers import until

T = TypeVar("T")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no system chromium: apt-get install chromium chromium-driver",
)
WAIT_S = 20


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def retry(fn: Callable[[], T]) -> T:
    """The page re-renders its tables on every update: an element found may be replaced before
    it is clicked, so find and act again (bounded)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    last: Exception | None = None
    for _ in range(50):
        try:
            return fn()
        except (StaleElementReferenceException, WebDriverException) as exc:
            last = exc
    raise AssertionError(f"page element kept changing: {last!r}")


async def test_the_page_shows_an_open_order_and_pausing_from_it_stops_new_orders(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    async with ops_engine(tmp_path) as engine:
        await wait_open_order(engine)
        driver = await asyncio.to_thread(browser)
        try:
            def load_and_find_order() -> str:
                driver.get(url(engine, "/"))
                WebDriverWait(driver, WAIT_S).until(
                    lambda d: d.find_elements(By.CSS_SELECTOR, "#open-orders tbody tr[data-coid]")
                )
                return str(retry(lambda: driver.find_element(By.CSS_SELECTOR, "#open-orders tbody").text))

            shown = await asyncio.to_thread(load_and_find_order)
            assert "rep" in shown and "sim:BTC-KRW" in shown

            def pause() -> None:
                driver.find_element(By.ID, "token").send_keys(TOKEN)
                retry(lambda: driver.find_element(
                    By.CSS_SELECTOR, 'button[data-action="pause"][data-strategy="rep"]').click())

            await asyncio.to_thread(pause)
            host = engine.hosts[0]
            await until(lambda: host.paused is not None, timeout=WAIT_S)
            count = await strategy_orders(engine, "rep")
            await until(lambda: host.refused_while_paused >= 3, timeout=WAIT_S)
            assert await strategy_orders(engine, "rep") == count

            def shown_state() -> str:
                WebDriverWait(driver, WAIT_S).until(
                    lambda d: "paused" in retry(lambda: d.find_element(By.CSS_SELECTOR, 'tr[data-strategy="rep"]').text)
                )
                return str(retry(lambda: driver.find_element(By.ID, "message").text))

            message = await asyncio.to_thread(shown_state)
            assert message.startswith("done")
            logs = await asyncio.to_thread(driver.get_log, "browser")
        finally:
            await asyncio.to_thread(driver.quit)
    errors = [entry for entry in logs if entry.get("level") == "SEVERE"]
    assert errors == []
    assert [c["action"] for c in engine.controls] == ["pause"]
