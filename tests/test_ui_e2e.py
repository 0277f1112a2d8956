"""The Prefect UI, driven by headless Chromium: start `localize` from the deployment's form.

Needs Debian's `chromium` and `chromium-driver` (the system chromedriver; nothing is downloaded)
and selenium. Opens the deployment served by a real `prefect server`, chooses Run → Custom run,
fills the form (source video, target language, output folder), submits it, and waits for the
flow run a process worker picks up to complete with the outputs on disk.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.prefect_server import prefect_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e
CHROMEDRIVER, CHROMIUM = "/usr/bin/chromedriver", "/usr/bin/chromium"

webdriver = pytest.importorskip("selenium.webdriver")
if not (shutil.which(CHROMEDRIVER) and shutil.which(CHROMIUM)):  # pragma: no cover - CI installs them (Makefile APT_PKGS)
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def _field(driver, title: str, tag: str):
    """The input element of the form field whose label starts with `title`."""
    xpath = f"//*[starts-with(normalize-space(text()), '{title}')]/ancestor::div[.//{tag}][1]//{tag}"
    return WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.XPATH, xpath)))


def _choose(driver, select_element, values: list[str]) -> None:
    """Set a (multiple) native select to exactly `values`; via the DOM if the control is styled over."""
    try:
        select = Select(select_element)
        select.deselect_all()
        for value in values:
            select.select_by_value(value)
    except Exception:
        driver.execute_script(
            "const [el, values] = arguments;"
            "for (const o of el.options) o.selected = values.includes(o.value);"
            "el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}));",
            select_element,
            values,
        )


def test_custom_run_from_the_deployment_form_completes(prefect_server, two_line_clip, browser, tmp_path):
    server = prefect_server
    server.create_pool("polydub-cpu")
    server.deploy("localize")
    with server.client() as client:
        deployment = client.read_deployment_by_name("localize/localize")
    out = tmp_path / "ui-out"
    ui = server.api_url.removesuffix("/api")
    wait = WebDriverWait(browser, 60)

    browser.get(f"{ui}/deployments/deployment/{deployment.id}")
    wait.until(EC.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Run']"))).click()
    wait.until(EC.element_to_be_clickable((By.XPATH, "//*[normalize-space()='Custom run']"))).click()
    wait.until(EC.url_contains("/run"))

    video = _field(browser, "Source video", "textarea")
    video.send_keys(str(two_line_clip))
    _choose(browser, _field(browser, "Target languages", "select"), ["ca"])
    out_field = _field(browser, "Output folder", "textarea")
    out_field.clear()
    out_field.send_keys(str(out))
    browser.save_screenshot(str(tmp_path / "custom-run-form.png"))
    wait.until(EC.element_to_be_clickable((By.XPATH, "//button[@type='submit' and normalize-space()='Submit']"))).click()
    # the UI goes back to the deployment page; the run it created is the deployment's only run
    wait.until(lambda driver: not driver.current_url.split("?")[0].endswith("/run"))
    created = server.wait_for(lambda client: server.flow_runs(deployment_id=deployment.id), timeout=30, what="the run the form created")
    assert len(created) == 1
    run_id = created[0].id

    with server.worker("polydub-cpu"):
        run = server.wait_for_flow_run(run_id, timeout=420)
    browser.refresh()
    time.sleep(3)
    browser.save_screenshot(str(tmp_path / "flow-run.png"))
    assert run.state.is_completed(), (run.state, server.worker_log("polydub-cpu")[-3000:])
    assert run.deployment_id == deployment.id
    assert run.parameters["params"]["video"] == str(two_line_clip)
    assert run.parameters["params"]["targets"] == ["ca"]
    report = json.loads((out / "report.json").read_text())
    assert list(report["languages"]) == ["ca"] and report["languages"]["ca"]["status"] == "completed"
    assert Path(report["languages"]["ca"]["outputs"]["video"]).stat().st_size > 0
    assert (tmp_path / "custom-run-form.png").stat().st_size > 0
