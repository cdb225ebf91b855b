"""The report page in a real headless browser (Debian's chromium through the system chromedriver,
driven by selenium): it opens from the file, logs no console error, and its charts have data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.engine.report.test_report_runs import WINDOW, backtest, config

pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[test]'")
from tests.engine.ops.test_page import CHROMEDRIVER, CHROMIUM, WAIT_S, browser  # noqa: E402

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no system chromium: apt-get install chromium chromium-driver",
)
POINT = re.compile(r"[ML]-?\d")


def page_facts(url: str) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        driver.get(url)
        WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script("return document.readyState") == "complete")
        lines = {
            chart: [(len(POINT.findall(p.get_attribute("d") or "")), int(p.get_attribute("data-points") or 0))
                    for p in driver.find_elements(By.CSS_SELECTOR, f"#{chart} path.series")]
            for chart in ("equity-chart", "drawdown-chart", "price-chart-0", "price-chart-1")
        }
        markers = len(driver.find_elements(By.CSS_SELECTOR, "svg.chart path.marker"))
        trades = len(driver.find_elements(By.CSS_SELECTOR, "#trades tbody tr"))
        headline = driver.find_element(By.ID, "headline").text
        logs = driver.get_log("browser")
        return {"lines": lines, "markers": markers, "trades": trades, "headline": headline, "logs": logs}
    finally:
        driver.quit()


def test_the_report_opens_from_its_file_with_no_console_error_and_charts_with_data(tmp_path: Path) -> None:
    summary = backtest(config(tmp_path), *WINDOW)
    html = Path(summary["report"]["html"]).resolve()
    facts = page_facts(html.as_uri())
    assert [e for e in facts["logs"] if e.get("level") == "SEVERE"] == []
    samples = 2 * 3600 // 10  # two hours sampled every 10 s
    for chart, lines in facts["lines"].items():
        assert lines, f"{chart} has no line"
        for drawn, told in lines:
            assert drawn >= told > samples // 2, (chart, drawn, told)  # an area adds its closing points
    # every fill is marked on its instrument's price, and listed
    assert facts["markers"] == facts["trades"] == summary["fills"] > 0
    assert "net PnL" in facts["headline"] and "Sharpe" in facts["headline"]
