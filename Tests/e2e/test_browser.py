"""End-to-end checks in a real browser (Chromium through Selenium) against a running Berth.

scripts/e2e starts the engine, the test users and Berth, then runs this with BERTH_URL, BERTH_TEST_PASSWORD and
DOCKER_HOST set.
"""
import os
import subprocess
import time
import uuid

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

URL = os.environ["BERTH_URL"]
PASSWORD = os.environ["BERTH_TEST_PASSWORD"]


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def sign_in(driver, user):
    driver.get(URL + "/login")
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    # Signed in once the header names the user (the next page must not race the sign-in's redirect).
    driver.find_element(By.CSS_SELECTOR, "header .user")


def text_of(driver, selector):
    """The element's text, or "" while the page is being replaced."""
    try:
        return driver.find_element(By.CSS_SELECTOR, selector).text
    except Exception:
        return ""


def wait_for(condition, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    assert condition()


def docker(*args):
    return subprocess.run(["docker", "-H", os.environ["DOCKER_HOST"], *args], check=True, capture_output=True, text=True).stdout


def test_wrong_password_stays_on_the_login_page(browser):
    browser.get(URL + "/login")
    browser.find_element(By.NAME, "username").send_keys("bt-admin")
    browser.find_element(By.NAME, "password").send_keys("wrong")
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    assert "Wrong username or password." in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text


def test_admin_runs_hello_world_in_the_foreground(browser):
    sign_in(browser, "bt-admin")
    assert browser.find_element(By.CSS_SELECTOR, ".user").text == "bt-admin"
    browser.get(URL + "/containers/new")
    browser.find_element(By.NAME, "image").send_keys("busybox")
    browser.find_element(By.NAME, "command").send_keys("echo hello world")
    browser.find_element(By.NAME, "labels").send_keys("berth.test=1")
    browser.find_element(By.NAME, "autoRemove").click()
    browser.find_element(By.CSS_SELECTOR, "form.run-form button[type=submit]").click()
    assert browser.find_element(By.CSS_SELECTOR, "pre.stdout").text == "hello world"
    assert browser.find_element(By.CSS_SELECTOR, ".exit-code").text == "0"
    browser.save_screenshot("/tmp/berth-e2e-run.png")


def test_operator_runs_detached_then_stops_it_from_the_list(browser):
    name = "e2e-" + uuid.uuid4().hex[:8]
    sign_in(browser, "bt-operator")
    browser.get(URL + "/containers/new")
    browser.find_element(By.NAME, "image").send_keys("busybox")
    browser.find_element(By.NAME, "name").send_keys(name)
    browser.find_element(By.NAME, "command").send_keys("sh -c 'while true; do echo tick; sleep 1; done'")
    browser.find_element(By.NAME, "labels").send_keys("berth.test=1")
    browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=detached]").click()
    browser.find_element(By.CSS_SELECTOR, "form.run-form button[type=submit]").click()
    wait_for(lambda: text_of(browser, "h1").startswith(name))
    assert f"Started {name}." in browser.find_element(By.CSS_SELECTOR, ".banner-ok").text
    time.sleep(2)
    browser.find_element(By.LINK_TEXT, "Logs").click()
    wait_for(lambda: "tick" in browser.find_element(By.CSS_SELECTOR, "pre.log").text)
    browser.get(URL + "/containers?name=" + name)
    browser.find_element(By.CSS_SELECTOR, f"input[aria-label='Select {name}']").click()
    browser.find_element(By.CSS_SELECTOR, "#bulk button").click()
    assert "1 succeeded, 0 failed." in browser.page_source
    browser.save_screenshot("/tmp/berth-e2e-bulk.png")
    assert docker("inspect", "-f", "{{.State.Running}}", name).strip() == "false"
    docker("rm", "-f", name)


def test_viewer_sees_containers_but_no_actions(browser):
    name = "e2e-" + uuid.uuid4().hex[:8]
    docker("run", "-d", "--network", "none", "--label", "berth.test=1", "--name", name, "busybox", "sleep", "300")
    try:
        sign_in(browser, "bt-viewer")
        assert name in browser.page_source
        assert not browser.find_elements(By.CSS_SELECTOR, "#bulk")
        browser.find_element(By.LINK_TEXT, name).click()
        assert not browser.find_elements(By.CSS_SELECTOR, ".actions")
        browser.save_screenshot("/tmp/berth-e2e-viewer.png")
    finally:
        docker("rm", "-f", name)


def test_viewer_follows_live_logs_with_colours_and_no_markup(browser):
    name = "e2e-" + uuid.uuid4().hex[:8]
    script = (r"printf '\033[31mred alert\033[0m <b>bold?</b> \033]8;;http://x\033\\link\033]8;;\033\\\n'; "
              r"i=0; while :; do echo live $i; i=$((i+1)); sleep 0.3; done")
    docker("run", "-d", "--network", "none", "--label", "berth.test=1", "--name", name, "busybox", "sh", "-c", script)
    try:
        sign_in(browser, "bt-viewer")
        browser.get(URL + "/containers/" + name)
        wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "[data-stat=memory]").text not in ("", "–"))
        browser.find_element(By.LINK_TEXT, "Logs").click()
        log = browser.find_element(By.CSS_SELECTOR, "pre.log")
        wait_for(lambda: "live 3" in log.text)
        # Colour became a class; the markup and the OSC 8 link stayed text or were dropped.
        red = browser.find_element(By.CSS_SELECTOR, "pre.log .ansi-fg-1")
        assert red.text == "red alert"
        assert "<b>bold?</b> link" in log.text
        assert not browser.find_elements(By.CSS_SELECTOR, "pre.log b, pre.log a")
        # Lines keep coming while the page is open.
        wait_for(lambda: "live 8" in log.text)
        browser.save_screenshot("/tmp/berth-e2e-logs.png")
        browser.get(URL + "/events")
        docker("stop", "-t", "1", name)
        wait_for(lambda: name in browser.find_element(By.ID, "event-rows").text)
        browser.save_screenshot("/tmp/berth-e2e-events.png")
    finally:
        docker("rm", "-f", name)


def test_settings_change_the_theme_and_times_and_the_audit_page_shows_it(browser):
    sign_in(browser, "bt-viewer")
    browser.get(URL + "/settings")
    browser.find_element(By.CSS_SELECTOR, "select[name=theme] option[value=dark]").click()
    browser.find_element(By.CSS_SELECTOR, "select[name=timeZone] option[value=local]").click()
    browser.find_element(By.CSS_SELECTOR, "select[name=dateFormat] option[value='dd.mm.yyyy']").click()
    browser.find_element(By.CSS_SELECTOR, "form.settings button[type=submit]").click()
    assert "Settings saved." in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("data-theme") == "dark"
    background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 20, 25)", background
    browser.get(URL + "/audit")
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-audit-id]")
    assert "settings.update" in row.text
    # The browser rewrote the UTC time into its own zone, in the chosen format.
    shown = row.find_element(By.CSS_SELECTOR, "time").text
    assert "UTC" not in shown and shown[2] == "." and shown[5] == ".", shown
    row.find_element(By.CSS_SELECTOR, "details summary").click()
    assert "log.tail" in row.find_element(By.CSS_SELECTOR, "dl.facts").text or "theme" in row.find_element(By.CSS_SELECTOR, "dl.facts").text
    browser.save_screenshot("/tmp/berth-e2e-audit.png")


def browser_errors(driver):
    """Console errors and CSP violations the page reported."""
    try:
        return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    except Exception:
        return []


def test_a_shared_dashboard_opens_through_its_link_in_a_fresh_browser_and_stays_live(browser):
    tag = uuid.uuid4().hex[:8]
    first = "e2e-dash-" + tag + "-a"
    later = "e2e-dash-" + tag + "-b"
    docker("run", "-d", "--network", "none", "--label", "berth.test=1", "--label", "e2e.dash=" + tag, "--name", first,
           "busybox", "sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.5; done")
    wall = None
    try:
        sign_in(browser, "bt-operator")
        browser.get(URL + "/dashboards/new")
        browser.find_element(By.NAME, "title").send_keys("Wall " + tag)
        browser.find_element(By.CSS_SELECTOR, "select[name=kind] option[value=labels]").click()
        browser.find_element(By.NAME, "selection").send_keys("e2e.dash=" + tag)
        # The live preview names the matching container before the dashboard is saved.
        wait_for(lambda: first in text_of(browser, "#preview"))
        browser.find_element(By.NAME, "showLogs").click()
        browser.find_element(By.CSS_SELECTOR, "#dashboard-form button[type=submit]").click()
        wait_for(lambda: first in text_of(browser, "table.dashboard-status"))
        browser.save_screenshot("/tmp/berth-e2e-dashboard.png")
        browser.find_element(By.LINK_TEXT, "Share links").click()
        browser.find_element(By.NAME, "label").send_keys("wall screen")
        browser.find_element(By.CSS_SELECTOR, "form[action$='/links'] button").click()
        link = browser.find_element(By.ID, "new-link").get_attribute("value")
        assert "/s/" in link
        token = link.rsplit("/", 1)[1]

        # A fresh profile: no session, only the link.
        options = webdriver.ChromeOptions()
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        wall = webdriver.Chrome(options=options)
        wall.implicitly_wait(5)
        wall.get(link)
        assert token not in wall.current_url and "/shared/" in wall.current_url
        wait_for(lambda: first in text_of(wall, "table.dashboard-status"))
        wait_for(lambda: "tick" in text_of(wall, "pre[data-logs]"), timeout=15)
        # Started now: it shows up live, without a reload.
        docker("run", "-d", "--network", "none", "--label", "berth.test=1", "--label", "e2e.dash=" + tag, "--name", later,
               "busybox", "sleep", "60")
        wait_for(lambda: later in text_of(wall, "table.dashboard-status"), timeout=20)
        assert token not in wall.page_source
        assert not browser_errors(wall), browser_errors(wall)
        wall.save_screenshot("/tmp/berth-e2e-shared-dashboard.png")
        # No way into the rest of Berth with the link's cookie.
        wall.get(URL + "/containers")
        assert "/login" in wall.current_url
    finally:
        if wall:
            wall.quit()
        docker("rm", "-f", first, later)
