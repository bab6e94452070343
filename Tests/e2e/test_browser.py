"""End-to-end checks in a real browser (Chromium through Selenium) against a running Berth.

scripts/e2e starts the engine, the test users and Berth, then runs this with BERTH_URL, BERTH_TEST_PASSWORD and
DOCKER_HOST set.
"""
import email
import email.policy
import json
import os
import subprocess
import time
import uuid

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

URL = os.environ["BERTH_URL"]
PASSWORD = os.environ["BERTH_TEST_PASSWORD"]
SHOTS = os.environ.get("BERTH_E2E_SHOTS", "/tmp")


def new_browser(width=1400, height=1000):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(flag)
    # The console, to find script errors and Content-Security-Policy violations.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Debian's chromium and its driver, named outright: Selenium would otherwise try to download a browser.
    options.binary_location = os.environ.get("BERTH_E2E_CHROMIUM", "/usr/bin/chromium")
    driver = webdriver.Chrome(options=options, service=Service(os.environ.get("BERTH_E2E_CHROMEDRIVER", "/usr/bin/chromedriver")))
    driver.implicitly_wait(5)
    return driver


def page_errors(driver):
    """Script errors and CSP violations the pages reported (a 4xx page a test asks for is not one)."""
    return [entry for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and entry.get("source") != "network"]


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


@pytest.fixture
def browser():
    driver = new_browser()
    yield driver
    errors = page_errors(driver)
    driver.quit()
    assert not errors, errors


def sign_in(driver, user, base=URL):
    driver.get(base + "/login")
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


def rows_by_engine(driver):
    """The dashboard's rows by engine; {} while its script is replacing them (each engine's rows come on their own)."""
    try:
        return {row.get_attribute("data-engine"): row.text
                for row in driver.find_elements(By.CSS_SELECTOR, "table.dashboard-status tr[data-engine]")}
    except Exception:
        return {}


def clicked(driver, link_text):
    """Clicks a link; False while the page's script is replacing it."""
    try:
        driver.find_element(By.LINK_TEXT, link_text).click()
        return True
    except Exception:
        return False


def is_ticked(driver, selector):
    """Whether the checkbox is ticked; False while the page is being replaced."""
    try:
        return driver.find_element(By.CSS_SELECTOR, selector).is_selected()
    except Exception:
        return False


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
    shot(browser, "run")


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
    # The shell ignores SIGTERM, so the stop takes the engine's 10 s before its SIGKILL; the click may come back
    # before the results page does.
    wait_for(lambda: text_of(browser, "h1") == "Stopped: results", timeout=30)
    assert "1 succeeded, 0 failed." in browser.page_source
    shot(browser, "bulk")
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
        shot(browser, "viewer")
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
        shot(browser, "logs")
        browser.get(URL + "/events")
        docker("stop", "-t", "1", name)
        wait_for(lambda: name in browser.find_element(By.ID, "event-rows").text)
        shot(browser, "events")
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
    # The action filter offers the actions the trail records: choosing one shows only its rows.
    browser.get(URL + "/audit")
    browser.find_element(By.CSS_SELECTOR, "select[name=action] option[value='settings.update']").click()
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    # The click returns before the filtered page has replaced this one (a CI run read the old address).
    wait_for(lambda: "action=settings.update" in browser.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-audit-id]")
    assert rows and all("settings.update" in each.text for each in rows)
    row = rows[0]
    # The browser rewrote the UTC time into its own zone, in the chosen format.
    shown = row.find_element(By.CSS_SELECTOR, "time").text
    assert "UTC" not in shown and shown[2] == "." and shown[5] == ".", shown
    row.find_element(By.CSS_SELECTOR, "details summary").click()
    assert "log.tail" in row.find_element(By.CSS_SELECTOR, "dl.facts").text or "theme" in row.find_element(By.CSS_SELECTOR, "dl.facts").text
    shot(browser, "audit")


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
        shot(browser, "dashboard")
        browser.find_element(By.LINK_TEXT, "Share links").click()
        browser.find_element(By.NAME, "label").send_keys("wall screen")
        browser.find_element(By.CSS_SELECTOR, "form[action$='/links'] button").click()
        link = browser.find_element(By.ID, "new-link").get_attribute("value")
        assert "/s/" in link
        token = link.rsplit("/", 1)[1]

        # A fresh profile: no session, only the link.
        wall = new_browser(1200, 900)
        wall.get(link)
        assert token not in wall.current_url and "/shared/" in wall.current_url
        wait_for(lambda: first in text_of(wall, "table.dashboard-status"))
        wait_for(lambda: "tick" in text_of(wall, "pre[data-logs]"), timeout=15)
        # Started now: it shows up live, without a reload.
        docker("run", "-d", "--network", "none", "--label", "berth.test=1", "--label", "e2e.dash=" + tag, "--name", later,
               "busybox", "sleep", "60")
        wait_for(lambda: later in text_of(wall, "table.dashboard-status"), timeout=20)
        assert token not in wall.page_source
        assert not page_errors(wall), page_errors(wall)
        shot(wall, "shared-dashboard")
        # No way into the rest of Berth with the link's cookie.
        wall.get(URL + "/containers")
        assert "/login" in wall.current_url
    finally:
        if wall:
            wall.quit()
        docker("rm", "-f", first, later)


class SlowLink:
    """A slow network between the engine and the test registry: a TCP relay on a loopback port that passes the
    registry's answers at `rate` bytes a second, so that a pull of a few megabytes takes seconds. The registry is
    real; only the link is slowed."""

    def __init__(self, upstream, rate):
        import socket
        import threading
        self.upstream, self.rate = upstream, rate
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import socket
        import threading
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            host, port = self.upstream.split(":")
            server = socket.create_connection((host, int(port)))
            threading.Thread(target=self.pipe, args=(client, server, None), daemon=True).start()
            threading.Thread(target=self.pipe, args=(server, client, self.rate), daemon=True).start()

    @staticmethod
    def pipe(source, target, rate):
        try:
            while True:
                data = source.recv(16384)
                if not data:
                    break
                target.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.close()
                except OSError:
                    pass

    def close(self):
        self.listener.close()


class PrivateRegistry:
    """The test registry: its image through the slow link (unpacks as reference, user, password), and straight."""

    def __init__(self, slow_reference, user, password, address, reference, push, pull):
        self.slow_reference, self.user, self.password = slow_reference, user, password
        self.address, self.reference, self.push, self.pull = address, reference, push, pull

    def __iter__(self):
        return iter((self.slow_reference, self.user, self.password))


@pytest.fixture
def registry(tmp_path):
    """A private registry with htpasswd auth (Debian's docker-registry) holding one pushed image of ~3 MB, reached
    by the engine over a link slowed to ~400 KB/s (the pull takes seconds)."""
    user, password = "e2e-puller", "pw-" + uuid.uuid4().hex[:12]
    port = 41000 + int(uuid.uuid4().hex[:4], 16) % 8000
    address = f"127.0.0.1:{port}"
    subprocess.run(["htpasswd", "-Bbc", str(tmp_path / "htpasswd"), user, password], check=True, capture_output=True)
    (tmp_path / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: " + str(tmp_path / "data") +
        "\nhttp:\n  addr: " + address + "\nauth:\n  htpasswd:\n    realm: berth-e2e\n    path: " + str(tmp_path / "htpasswd") + "\n")
    server = subprocess.Popen(["docker-registry", "serve", str(tmp_path / "config.yml")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    link = None
    try:
        wait_for(lambda: subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://{address}/v2/"]).returncode == 0)
        path = f"e2e/blob:{uuid.uuid4().hex[:6]}"
        reference = f"{address}/{path}"
        config = ["--config", str(tmp_path / "docker-config")]
        subprocess.run(["docker", "-H", os.environ["DOCKER_HOST"], *config, "login", address, "-u", user, "--password-stdin"],
                       input=password, text=True, check=True, capture_output=True)
        def push():
            """A new image of ~3 MB under the same tag, pushed; then gone from the engine (a pull must fetch it)."""
            container = docker("run", "-d", "--network", "none", "--label", "berth.test=1", "busybox", "sh", "-c",
                               "head -c 3000000 /dev/urandom > /blob").strip()
            docker("wait", container)
            docker("commit", container, reference)
            docker("rm", container)
            subprocess.run(["docker", "-H", os.environ["DOCKER_HOST"], *config, "push", reference], check=True, capture_output=True)
            docker("rmi", reference)

        def pull():
            subprocess.run(["docker", "-H", os.environ["DOCKER_HOST"], *config, "pull", reference], check=True, capture_output=True)

        push()
        link = SlowLink(address, 400_000)
        yield PrivateRegistry(f"{link.address}/{path}", user, password, address, reference, push, pull)
    finally:
        if link:
            link.close()
        server.terminate()
        server.wait()


def test_a_pull_outlives_its_tab_and_is_watched_to_the_end_from_jobs(browser, registry):
    reference, user, password = registry
    sign_in(browser, "bt-operator")
    browser.get(URL + "/images")
    browser.find_element(By.NAME, "reference").send_keys(reference)
    browser.find_element(By.CSS_SELECTOR, ".pull-form details summary").click()
    browser.find_element(By.NAME, "username").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, ".pull-form button[type=submit]").click()
    # The job's page: it runs.
    wait_for(lambda: "/jobs/" in browser.current_url)
    job = browser.current_url.rsplit("/", 1)[1]
    wait_for(lambda: text_of(browser, "#job-state") == "running", timeout=30)
    # Close the tab; open Jobs in a new one.
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    second = browser.current_window_handle
    browser.switch_to.window(first)
    browser.close()
    browser.switch_to.window(second)
    browser.get(URL + "/jobs")
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-job='{job}']")
    assert "running" in row.text and "bt-operator" in row.text, row.text
    shot(browser, "jobs")
    row.find_element(By.CSS_SELECTOR, "a").click()
    wait_for(lambda: "Pulled " in text_of(browser, "#job-result"), timeout=60)
    assert text_of(browser, "#job-state") == "succeeded"
    bar = browser.find_element(By.ID, "job-bar")
    assert bar.get_attribute("value") == bar.get_attribute("max") == "1"
    assert "Digest: sha256:" in text_of(browser, "#job-log")
    assert browser.find_element(By.ID, "job-links").is_displayed()
    shot(browser, "job")
    try:
        browser.get(URL + "/audit?action=image.pull")
        row = browser.find_element(By.CSS_SELECTOR, "tr[data-audit-id]")
        assert "image.pull" in row.text and "bt-operator" in row.text
        assert password not in browser.page_source
        shot(browser, "audit-pull")
        # Signing out ends the session: the pages ask for a sign-in again.
        browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        wait_for(lambda: "/login" in browser.current_url)
        browser.get(URL + "/containers")
        assert "/login" in browser.current_url
        shot(browser, "signed-out")
    finally:
        subprocess.run(["docker", "-H", os.environ["DOCKER_HOST"], "rmi", "-f", reference], capture_output=True)


def unlabelled_fields(driver):
    """Visible form fields with no label: neither inside a <label>, nor named by label[for], aria-label or -labelledby."""
    return driver.execute_script("""
        return Array.from(document.querySelectorAll('input, select, textarea'))
          .filter(f => f.type !== 'hidden' && f.offsetParent !== null)
          .filter(f => !f.closest('label') && !f.getAttribute('aria-label') && !f.getAttribute('aria-labelledby')
                       && !(f.id && document.querySelector('label[for="' + f.id + '"]')))
          .map(f => f.outerHTML.slice(0, 120));
    """)


def test_pages_fit_a_phone_label_every_field_and_show_keyboard_focus(browser):
    sign_in(browser, "bt-admin")
    browser.set_window_size(390, 844)
    pages = ["/containers?all=1", "/containers/new", "/images", "/networks", "/volumes", "/events", "/dashboards",
             "/dashboards/new", "/audit", "/settings", "/system"]
    for path in pages:
        browser.get(URL + path)
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than a phone"
        assert not unlabelled_fields(browser), (path, unlabelled_fields(browser))
        name = "phone-" + path.strip("/").replace("/", "-").split("?")[0]
        shot(browser, name)
    # Tabbing reaches the first link, and the focused element is outlined.
    browser.get(URL + "/containers")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    outline = browser.execute_script("const e = document.activeElement; return [e.tagName, getComputedStyle(e).outlineStyle];")
    assert outline[0] in ("A", "BUTTON", "INPUT") and outline[1] != "none", outline


def test_admin_stops_all_shown_then_commits_one_and_finds_both_in_the_audit(browser):
    tag = uuid.uuid4().hex[:8]
    names = ["e2e-all-" + tag + "-" + n for n in ("a", "b")]
    for name in names:
        docker("run", "-d", "--network", "none", "--label", "berth.test=1", "--label", "e2e.all=" + tag, "--name", name,
               "busybox", "sleep", "300")
    image = "e2e-commit-" + tag
    try:
        sign_in(browser, "bt-admin")
        browser.get(URL + "/containers?label=e2e.all%3D" + tag)
        browser.find_element(By.XPATH, "//button[starts-with(normalize-space(.), 'Stop all running')]").click()
        # The result page replaces the list: wait for it rather than read the page that is going away.
        wait_for(lambda: "2 succeeded, 0 failed." in text_of(browser, "main"))
        for name in names:
            assert docker("inspect", "-f", "{{.State.Running}}", name).strip() == "false"
        shot(browser, "stop-all")
        browser.get(URL + "/containers/" + names[0])
        browser.find_element(By.NAME, "repository").send_keys(image)
        browser.find_element(By.NAME, "tag").send_keys("v1")
        browser.find_element(By.NAME, "message").send_keys("made in the browser")
        browser.find_element(By.CSS_SELECTOR, "form[action$='/commit'] button").click()
        wait_for(lambda: "Committed " in text_of(browser, "[role=status]"))
        assert docker("image", "inspect", "-f", "{{.Comment}} {{.Author}}", image + ":v1").strip() == "made in the browser bt-admin"
        shot(browser, "commit")
        browser.get(URL + "/audit?target=" + names[0])
        audit = browser.find_element(By.TAG_NAME, "main").text
        assert "container.commit" in audit and "container.stop" in audit
        shot(browser, "audit-container")
    finally:
        docker("rm", "-f", *names)
        subprocess.run(["docker", "-H", os.environ["DOCKER_HOST"], "rmi", "-f", image + ":v1"], capture_output=True)


def terminal_text(driver):
    """The console's screen as text (xterm.js keeps it in its accessibility tree)."""
    return driver.execute_script(
        "var t = window.berthTerminal; if (!t) return '';"
        "var b = t._core.buffer, lines = [];"
        "for (var i = 0; i < b.lines.length; i++) lines.push(b.translateBufferLineToString(i, true));"
        "return lines.join('\\n');")


def websocket_handshake(path, cookie=None, origin=None, token=None):
    """The status line a WebSocket handshake gets, sent by hand (what a page on another site could send)."""
    import base64
    import socket
    import urllib.parse
    address = urllib.parse.urlparse(URL)
    headers = [f"GET {path} HTTP/1.1", f"Host: {address.netloc}", "Upgrade: websocket", "Connection: Upgrade",
               "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)).decode()]
    if origin:
        headers.append("Origin: " + origin)
    if cookie:
        headers.append("Cookie: " + cookie)
    if token:
        headers.append("Sec-WebSocket-Protocol: berth.console, berth.csrf." + token)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        return connection.recv(4096).decode(errors="replace").split("\r\n")[0]


def test_admin_opens_a_console_types_and_finds_it_audited(browser):
    name = "e2e-console-" + uuid.uuid4().hex[:8]
    docker("run", "-d", "--network", "none", "--label", "berth.test=1", "--name", name, "busybox", "sleep", "300")
    try:
        sign_in(browser, "bt-admin")
        browser.get(URL + "/containers/" + name)
        browser.find_element(By.LINK_TEXT, "Console").click()
        wait_for(lambda: text_of(browser, "#console-status").startswith("Connected: /bin/sh"), timeout=20)
        # busybox ash asks the terminal where its cursor is before each prompt; xterm.js answers: the prompt follows.
        wait_for(lambda: "#" in terminal_text(browser))
        browser.find_element(By.CSS_SELECTOR, "#console .xterm-helper-textarea").send_keys("echo hello; exit 3" + Keys.ENTER)
        wait_for(lambda: "\nhello" in terminal_text(browser), timeout=10)
        wait_for(lambda: text_of(browser, "#console-status") == "The process exited with code 3.", timeout=10)
        shot(browser, "console")
        browser.get(URL + "/audit?target=" + name)
        audit = browser.find_element(By.TAG_NAME, "main").text
        assert "console.open" in audit and "console.close" in audit, audit
        shot(browser, "console-audit")
        # The replay, from the closing row: the command typed and what it printed, at 8x.
        browser.find_element(By.XPATH, "//tr[.//code[text()='console.close']]//a[text()='replay']").click()
        browser.find_element(By.CSS_SELECTOR, "#replay-speed option[value='8']").click()
        try:
            wait_for(lambda: browser.find_element(By.ID, "replay").get_attribute("data-state") == "ended", timeout=20)
        except AssertionError:
            shot(browser, "console-replay-stuck")
            raise AssertionError("the replay did not reach its end: " + text_of(browser, "#replay-status") + " at "
                                 + str(browser.find_element(By.ID, "replay").get_attribute("data-position")) + " ms; "
                                 + str(page_errors(browser)))
        screen = browser.execute_script(
            "var b = window.berthReplay._core.buffer, lines = [];"
            "for (var i = 0; i < b.lines.length; i++) lines.push(b.translateBufferLineToString(i, true));"
            "return lines.join('\\n');")
        assert "# echo hello; exit 3" in screen and "\nhello" in screen, screen
        assert "echo hello; exit 3" in text_of(browser, "#replay-typed")
        assert browser.find_element(By.LINK_TEXT, "Download .cast").get_attribute("href").endswith("/cast?download=1")
        shot(browser, "console-replay")
    finally:
        docker("rm", "-f", name)


def test_operator_and_viewer_get_no_console_and_a_foreign_origin_is_refused(browser):
    name = "e2e-noconsole-" + uuid.uuid4().hex[:8]
    docker("run", "-d", "--network", "none", "--label", "berth.test=1", "--name", name, "busybox", "sleep", "300")
    socket_path = "/containers/" + name + "/console/socket"
    try:
        for user in ("bt-operator", "bt-viewer"):
            browser.delete_all_cookies()
            sign_in(browser, user)
            browser.get(URL + "/containers/" + name)
            assert not browser.find_elements(By.LINK_TEXT, "Console")
            cookie = "berth=" + browser.get_cookie("berth")["value"]
            token = browser.find_element(By.CSS_SELECTOR, "header form input[name=_csrf]").get_attribute("value")
            # Refused before any upgrade, with the access check's own status.
            assert " 403 " in websocket_handshake(socket_path, cookie, URL, token) + " "
        browser.delete_all_cookies()
        sign_in(browser, "bt-admin")
        browser.get(URL + "/containers/" + name)
        cookie = "berth=" + browser.get_cookie("berth")["value"]
        token = browser.find_element(By.CSS_SELECTOR, "header form input[name=_csrf]").get_attribute("value")
        # The admin's own cookie and token, from a page on another site: refused; from Berth's origin: upgraded.
        assert " 403 " in websocket_handshake(socket_path, cookie, "http://evil.example", token) + " "
        assert " 403 " in websocket_handshake(socket_path, cookie, None, token) + " "
        assert " 403 " in websocket_handshake(socket_path, cookie, URL, "wrong") + " "
        assert " 101 " in websocket_handshake(socket_path, cookie, URL, token) + " "
        browser.get(URL + "/audit?target=" + name)
        audit = browser.find_element(By.TAG_NAME, "main").text
        assert "console.open" in audit and "denied" in audit, audit
    finally:
        docker("rm", "-f", name)


def test_an_update_is_found_and_pull_and_recreate_brings_it(browser, registry):
    """An admin saves a shared registry login, checks for image updates from the container list after a new push of
    the tag a running container uses, sees "update available", and pulls and recreates it from its page."""
    registry.pull()
    name = "e2e-update-" + uuid.uuid4().hex[:6]
    docker("run", "-d", "--name", name, "--network", "none", "--label", "berth.test=1", "-e", "KEEP=me",
           "--restart", "unless-stopped", registry.reference, "sleep", "3600")
    try:
        sign_in(browser, "bt-admin")
        browser.get(URL + "/registries")
        browser.find_element(By.NAME, "registry").send_keys(registry.address)
        browser.find_element(By.NAME, "username").send_keys(registry.user)
        browser.find_element(By.NAME, "password").send_keys(registry.password)
        browser.find_element(By.NAME, "shared").click()
        browser.find_element(By.CSS_SELECTOR, "form[action='/registries'] button[type=submit]").click()
        row = browser.find_element(By.CSS_SELECTOR, "tr[data-login]")
        assert registry.address in row.text and "everyone" in row.text
        assert registry.password not in browser.page_source
        shot(browser, "registries")

        registry.push()
        browser.get(URL + "/containers")
        browser.find_element(By.CSS_SELECTOR, "form[action='/images/updates/check'] button").click()
        wait_for(lambda: "/jobs/" in browser.current_url)
        wait_for(lambda: "Checked " in text_of(browser, "#job-result"), timeout=60)
        assert "1 with a newer image" in text_of(browser, "#job-result"), text_of(browser, "#job-result")
        browser.get(URL + "/containers")
        row = browser.find_element(By.XPATH, f"//tr[.//a[text()='{name}']]")
        assert "update available" in row.text, row.text
        shot(browser, "update-available")

        row.find_element(By.LINK_TEXT, name).click()
        browser.find_element(By.CSS_SELECTOR, "#recreate button").click()
        wait_for(lambda: "/jobs/" in browser.current_url)
        wait_for(lambda: text_of(browser, "#job-state") in ("succeeded", "failed"), timeout=60)
        assert "Recreated " in text_of(browser, "#job-result"), text_of(browser, "#job-result")
        shot(browser, "recreated")
        inspect = docker("inspect", "--format", "{{.Image}} {{index .Config.Env 0}} {{.HostConfig.RestartPolicy.Name}} {{.State.Running}}", name)
        pulled = docker("image", "inspect", "--format", "{{.Id}}", registry.reference).strip()
        assert inspect.split()[0] == pulled and "unless-stopped" in inspect and inspect.strip().endswith("true"), inspect
        assert "KEEP=me" in docker("inspect", "--format", "{{.Config.Env}}", name)
        browser.get(URL + "/audit?action=container.recreate")
        assert "bt-admin" in browser.find_element(By.CSS_SELECTOR, "tr[data-audit-id]").text
    finally:
        subprocess.run(["docker", "-H", os.environ["DOCKER_HOST"], "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "-H", os.environ["DOCKER_HOST"], "rmi", "-f", registry.reference], capture_output=True)


@pytest.fixture
def webhook_receiver():
    """An HTTP server on loopback that keeps what it is sent (Berth runs with --alerts-allow-local for it)."""
    import http.server
    import threading
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((dict(self.headers), self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


def add_alert_channel(browser, name, kind, url, secret=""):
    """Signs in as an admin and adds a channel with the form on /alerts; its row."""
    sign_in(browser, "bt-admin")
    browser.find_element(By.LINK_TEXT, "Alerts").click()
    form = browser.find_element(By.ID, "new-channel")
    form.find_element(By.NAME, "name").send_keys(name)
    Select(form.find_element(By.NAME, "kind")).select_by_visible_text(kind)
    form.find_element(By.NAME, "url").send_keys(url)
    form.find_element(By.NAME, "secret").send_keys(secret)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    return browser.find_element(By.XPATH, f"//tr[@data-channel][.//a[text()='{name}']]")


def wait_for_delivery_sent(browser):
    """Reloads a channel's page until its newest delivery says sent."""
    def logged_sent():
        browser.refresh()
        return text_of(browser, "tr[data-delivery] td.state-sent") == "sent"
    wait_for(logged_sent, timeout=10)


def test_an_admin_makes_a_channel_and_a_rule_and_sees_the_test_in_the_delivery_log(browser, webhook_receiver):
    url, received = webhook_receiver
    name = "e2e-hook-" + uuid.uuid4().hex[:6]
    add_alert_channel(browser, name, "webhook (signed JSON)", url, "an-e2e-signing-secret")
    rule = browser.find_element(By.ID, "new-rule")
    rule.find_element(By.NAME, "name").send_keys(name + " deaths")
    rule.find_element(By.NAME, "event-died").click()
    rule.find_element(By.NAME, "namePattern").send_keys("^e2e-alert-")
    rule.find_element(By.XPATH, f".//label[contains(., '{name}')]/input").click()
    rule.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: name + " deaths" in text_of(browser, "table.alert-rules"))
    row = browser.find_element(By.XPATH, f"//tr[@data-channel][.//a[text()='{name}']]")
    row.find_element(By.CSS_SELECTOR, "form[action$='/test'] button").click()
    wait_for(lambda: "/alerts/channels/" in browser.current_url)
    wait_for(lambda: len(received) >= 1, timeout=10)
    headers, body = received[0]
    assert headers.get("X-Berth-Signature", "").startswith("sha256=") and '"event":"test"' in body
    wait_for_delivery_sent(browser)
    shot(browser, "alert-delivery-log")


@pytest.fixture
def smtp_sink(tmp_path):
    """Debian's aiosmtpd on a loopback port (Tests/smtp-sink.py), keeping each message as a JSON file."""
    sink = subprocess.Popen(
        ["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "smtp-sink.py"), "--dir", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    port = int(sink.stdout.readline().split()[1])
    yield port, tmp_path
    sink.terminate()
    sink.wait()


def test_an_admin_makes_an_email_channel_and_the_test_mail_arrives(browser, smtp_sink):
    port, folder = smtp_sink
    name = "e2e-mail-" + uuid.uuid4().hex[:6]
    row = add_alert_channel(browser, name, "e-mail (SMTP)", f"smtp://127.0.0.1:{port}/?from=berth@example.test&to=ops@example.test")
    assert "email" in row.text
    row.find_element(By.CSS_SELECTOR, "form[action$='/test'] button").click()
    wait_for(lambda: "/alerts/channels/" in browser.current_url)
    wait_for(lambda: len(list(folder.glob("*.json"))) >= 1, timeout=10)
    mail = json.loads(next(folder.glob("*.json")).read_text())
    message = email.message_from_string(mail["data"], policy=email.policy.default)
    assert mail["to"] == ["ops@example.test"] and message["Subject"] == f"Berth: a test message for channel “{name}”"
    assert "a test message" in message.get_content()
    wait_for_delivery_sent(browser)


def test_a_project_started_with_the_compose_cli_is_found_under_projects(browser, tmp_path):
    name = "e2e" + uuid.uuid4().hex[:8]
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  app:\n"
        "    image: busybox:latest\n"
        "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n"
    )
    compose = ["docker-compose", "-H", os.environ["DOCKER_HOST"], "-p", name, "-f", str(tmp_path / "compose.yaml")]
    subprocess.run(compose + ["up", "-d"], check=True, capture_output=True)
    try:
        sign_in(browser, "bt-viewer")
        browser.find_element(By.LINK_TEXT, "Projects").click()
        browser.find_element(By.LINK_TEXT, name).click()
        wait_for(lambda: f"{name}_app_1" in text_of(browser, "table.project-containers"))
        assert "running" in text_of(browser, "tr[data-service='app']")
        assert not browser.find_elements(By.CSS_SELECTOR, ".project-actions form, .project-actions a[href$='/plan']"), \
            "viewers get no buttons"
        shot(browser, "project")
        # An admin takes it down from its page; it leaves the list.
        browser.delete_all_cookies()
        sign_in(browser, "bt-admin")
        browser.get(URL + "/projects/" + name)
        browser.find_element(By.CSS_SELECTOR, f"form[action='/projects/{name}/down'] button").click()
        wait_for(lambda: browser.current_url.endswith("/projects"))
        assert name not in text_of(browser, "table.projects")
    finally:
        subprocess.run(compose + ["down"], capture_output=True)


# The three services, as the Swift tests deploy them too.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "three-services.compose.yaml")) as fixture:
    PROJECT_FILE = fixture.read()


def set_editor(driver, index, text):
    """Puts text into the page's index-th code editor, as a paste would (typing would auto-indent the YAML)."""
    editors = driver.find_elements(By.CSS_SELECTOR, ".CodeMirror")
    driver.execute_script("arguments[0].CodeMirror.setValue(arguments[1]);", editors[index], text)


def deploy_from_plan(driver, button_text):
    """Clicks the plan's button and waits for the deploy job to succeed."""
    driver.find_element(By.XPATH, f"//button[normalize-space()='{button_text}']").click()
    wait_for(lambda: "/jobs/" in driver.current_url)
    wait_for(lambda: text_of(driver, "#job-state") in ("succeeded", "failed"), timeout=90)
    assert text_of(driver, "#job-state") == "succeeded", text_of(driver, "#job-log")


def test_an_admin_writes_a_project_deploys_it_reads_its_logs_and_rolls_it_back(browser):
    name = "e2e" + uuid.uuid4().hex[:8]
    sign_in(browser, "bt-admin")
    try:
        browser.find_element(By.LINK_TEXT, "Projects").click()
        browser.find_element(By.LINK_TEXT, "New project").click()
        # The editor: CodeMirror with line numbers. A file with an unsupported key is refused at its line.
        wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".CodeMirror")) == 2)
        assert browser.find_elements(By.CSS_SELECTOR, ".CodeMirror-linenumber")
        browser.find_element(By.NAME, "name").send_keys(name)
        migrate = "  migrate:\n    image: busybox:latest\n"
        assert migrate in PROJECT_FILE
        set_editor(browser, 0, PROJECT_FILE.replace(migrate, migrate + "    build: .\n"))
        set_editor(browser, 1, "GREETING=hi\n")
        browser.find_element(By.NAME, "message").send_keys("first")
        browser.find_element(By.XPATH, "//button[normalize-space()='Create']").click()
        errors = browser.find_element(By.ID, "compose-errors")
        assert "build" in errors.text and "line 23" in errors.text, errors.text
        # The page's script has run once the editors are there (it makes them and listens to the links).
        wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".CodeMirror")) == 2)
        assert browser.find_elements(By.CSS_SELECTOR, ".editor-error-line"), "the line is marked in the editor"
        errors.find_element(By.LINK_TEXT, "line 23").click()
        cursor = browser.execute_script("return document.querySelector('.CodeMirror').CodeMirror.getCursor().line")
        assert cursor == 22, cursor
        shot(browser, "project-editor-error")
        set_editor(browser, 0, PROJECT_FILE)
        browser.find_element(By.XPATH, "//button[normalize-space()='Create']").click()
        wait_for(lambda: browser.current_url.endswith("/projects/" + name))
        assert "Saved " + name + " as version 1" in text_of(browser, ".banner")

        # The plan, then the deploy as a job.
        browser.find_element(By.LINK_TEXT, "Deploy…").click()
        plan = text_of(browser, "table.plan")
        for service in ("db", "migrate", "web"):
            assert browser.find_element(By.CSS_SELECTOR, f"tr[data-service='{service}']").get_attribute("data-action") == "create"
        shot(browser, "project-plan")
        deploy_from_plan(browser, "Deploy version 1")

        # The project's logs, merged: every service's lines in one page.
        browser.find_element(By.LINK_TEXT, "Open the project").click()
        wait_for(lambda: "running" in text_of(browser, "tr[data-service='web']"))
        browser.find_element(By.LINK_TEXT, "Logs").click()
        log = browser.find_element(By.CSS_SELECTOR, "pre.log")
        wait_for(lambda: "web says hi" in log.text and "migrated" in log.text, timeout=15)
        shot(browser, "project-logs")

        # Version 2 changes the greeting: the plan recreates only web, naming what changed.
        browser.get(URL + "/projects/" + name)
        browser.find_element(By.LINK_TEXT, "Edit").click()
        wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".CodeMirror")) == 2)
        set_editor(browser, 1, "GREETING=bye\n")
        browser.find_element(By.NAME, "message").send_keys("say bye")
        browser.find_element(By.XPATH, "//button[normalize-space()='Save version']").click()
        wait_for(lambda: "as version 2" in text_of(browser, ".banner"))
        browser.find_element(By.LINK_TEXT, "Deploy…").click()
        web = browser.find_element(By.CSS_SELECTOR, "tr[data-service='web']")
        assert web.get_attribute("data-action") == "recreate" and "environment" in web.text, web.text
        assert browser.find_element(By.CSS_SELECTOR, "tr[data-service='db']").get_attribute("data-action") == "keep"
        deploy_from_plan(browser, "Deploy version 2")
        assert "GREETING=bye" in docker("inspect", "-f", "{{.Config.Env}}", name + "-web-1")

        # The difference of the two versions, then the rollback to version 1 from its row.
        browser.get(URL + "/projects/" + name)
        browser.find_element(By.CSS_SELECTOR, "tr[data-version='2']").find_element(By.LINK_TEXT, "diff").click()
        changed = browser.find_element(By.CSS_SELECTOR, "tr.diff-changed")
        assert "GREETING=hi" in changed.text and "GREETING=bye" in changed.text, changed.text
        shot(browser, "project-diff")
        browser.get(URL + "/projects/" + name)
        browser.find_element(By.CSS_SELECTOR, "tr[data-version='1']").find_element(By.LINK_TEXT, "deploy…").click()
        assert "Roll back " + name + " to version 1" in text_of(browser, "h1")
        deploy_from_plan(browser, "Roll back to version 1")
        assert "GREETING=hi" in docker("inspect", "-f", "{{.Config.Env}}", name + "-web-1")
        browser.get(URL + "/projects/" + name)
        assert "running v1" in text_of(browser, "main"), text_of(browser, "main")
        browser.get(URL + "/audit?action=project.deploy")
        assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-audit-id]")) >= 3
    finally:
        ids = docker("ps", "-aq", "--filter", "label=com.docker.compose.project=" + name).split()
        if ids:
            docker("rm", "-f", "-v", *ids)
        for network in docker("network", "ls", "-q", "--filter", "label=com.docker.compose.project=" + name).split():
            docker("network", "rm", network)
        for volume in docker("volume", "ls", "-q", "--filter", "label=com.docker.compose.project=" + name).split():
            docker("volume", "rm", volume)


ENGINES_URL = os.environ.get("BERTH_ENGINES_URL", "")
SSH_ENGINE_HOST = os.environ.get("BERTH_SSH_ENGINE_HOST", "")


def test_an_operator_switches_engines_sees_the_overview_and_acts_on_the_ssh_one(browser):
    """A second Berth (scripts/e2e) with three engines: local on its socket, `tls` over TCP with client certificates,
    `ssh` through a private sshd; bt-operator operates everywhere."""
    assert ENGINES_URL and SSH_ENGINE_HOST, "scripts/e2e starts the Berth of several engines"
    name = "e2e-ssh-" + uuid.uuid4().hex[:8]
    subprocess.run(["docker", "-H", SSH_ENGINE_HOST, "run", "-d", "--network", "none", "--label", "berth.test=1", "--name", name,
                    "busybox", "sleep", "300"], check=True, capture_output=True)
    try:
        sign_in(browser, "bt-operator", ENGINES_URL)
        # The overview: three engines up, their containers in one list with the engine named.
        browser.get(ENGINES_URL + "/?all=1&name=" + name)
        engines = [row for row in browser.find_elements(By.CSS_SELECTOR, "table.engines tr[data-engine]")
                   if row.get_attribute("data-engine") in ("local", "tls", "ssh")]
        assert [row.get_attribute("data-engine") for row in engines] == ["local", "tls", "ssh"]
        for row in engines:
            assert "up" in row.text and "unreachable" not in row.text, row.text
        listed = browser.find_element(By.CSS_SELECTOR, f"tr[data-id] a[title]")
        assert listed.text == name
        assert browser.find_element(By.CSS_SELECTOR, "tr[data-id] td.engine").text == "ssh"
        shot(browser, "engines-overview")
        # The header's switcher goes to the ssh engine's list; its container's page is under /engines/ssh.
        browser.get(ENGINES_URL + "/engines/local/containers")
        browser.find_element(By.CSS_SELECTOR, "details.engines summary").click()
        browser.find_element(By.CSS_SELECTOR, "details.engines a[href='/engines/ssh/containers']").click()
        wait_for(lambda: browser.current_url.endswith("/engines/ssh/containers"))
        assert "ssh" in browser.find_element(By.CSS_SELECTOR, "details.engines summary").text
        browser.find_element(By.LINK_TEXT, name).click()
        wait_for(lambda: "/engines/ssh/containers/" in browser.current_url)
        browser.find_element(By.CSS_SELECTOR, "form[action$='/stop'] input[name=timeout]").send_keys("0")
        browser.find_element(By.CSS_SELECTOR, "form[action$='/stop'] button").click()
        wait_for(lambda: f"Stopped {name}." in text_of(browser, "[role=status]"), timeout=20)
        assert "/engines/ssh/containers/" in browser.current_url
        shot(browser, "engines-ssh-stopped")
        out = subprocess.run(["docker", "-H", SSH_ENGINE_HOST, "inspect", "-f", "{{.State.Running}}", name],
                             check=True, capture_output=True, text=True).stdout.strip()
        assert out == "false"
        # The audit row names the engine; the filter by engine finds it.
        browser.get(ENGINES_URL + "/audit")
        Select(browser.find_element(By.NAME, "engine")).select_by_value("ssh")
        browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
        wait_for(lambda: "engine=ssh" in browser.current_url)
        row = browser.find_element(By.XPATH, f"//tr[td[contains(., '{name}')] and td/code[text()='container.stop']]")
        assert "on ssh" in row.text
        shot(browser, "engines-audit")
    finally:
        subprocess.run(["docker", "-H", SSH_ENGINE_HOST, "rm", "-f", name], capture_output=True)


def test_an_operator_builds_a_dashboard_across_two_engines_and_its_link_shows_both_live(browser):
    """On the Berth of several engines: one label selects a container on `local` and one on `ssh`."""
    assert ENGINES_URL and SSH_ENGINE_HOST
    tag = uuid.uuid4().hex[:8]
    here, there = "e2e-multi-" + tag + "-local", "e2e-multi-" + tag + "-ssh"
    labels = ["--label", "berth.test=1", "--label", "e2e.multi=" + tag]
    docker("run", "-d", "--network", "none", *labels, "--name", here, "busybox", "sh", "-c",
           "while :; do echo tick here; sleep 0.5; done")
    subprocess.run(["docker", "-H", SSH_ENGINE_HOST, "run", "-d", "--network", "none", *labels, "--name", there, "busybox", "sh", "-c",
                    "while :; do echo tock there; sleep 0.5; done"], check=True, capture_output=True)
    wall = None
    try:
        sign_in(browser, "bt-operator", ENGINES_URL)
        browser.get(ENGINES_URL + "/dashboards/new")
        browser.find_element(By.NAME, "title").send_keys("Two hosts " + tag)
        browser.find_element(By.CSS_SELECTOR, "select[name=kind] option[value=labels]").click()
        browser.find_element(By.NAME, "selection").send_keys("e2e.multi=" + tag)
        # local is ticked to start with; ticking ssh adds its container to the preview.
        wait_for(lambda: is_ticked(browser, "input[name=engine][value=local]"))
        wait_for(lambda: here in text_of(browser, "#preview") and there not in text_of(browser, "#preview"))
        browser.find_element(By.CSS_SELECTOR, "input[name=engine][value=ssh]").click()
        wait_for(lambda: f"{there} on ssh" in text_of(browser, "#preview") and f"{here} on local" in text_of(browser, "#preview"), timeout=15)
        browser.find_element(By.NAME, "showLogs").click()
        browser.find_element(By.CSS_SELECTOR, "#dashboard-form button[type=submit]").click()
        wait_for(lambda: here in rows_by_engine(browser).get("local", "") and there in rows_by_engine(browser).get("ssh", ""), timeout=15)
        shot(browser, "dashboard-two-engines")
        browser.find_element(By.LINK_TEXT, "Share links").click()
        browser.find_element(By.NAME, "label").send_keys("two hosts")
        browser.find_element(By.CSS_SELECTOR, "form[action$='/links'] button").click()
        link = browser.find_element(By.ID, "new-link").get_attribute("value")

        # A fresh profile with only the link: both engines' rows, and both containers' logs.
        wall = new_browser(1200, 900)
        wall.get(link)
        wait_for(lambda: here in text_of(wall, "table.dashboard-status") and there in text_of(wall, "table.dashboard-status"), timeout=15)
        wait_for(lambda: "tick here" in text_of(wall, "pre[data-logs]") and "tock there" in text_of(wall, "pre[data-logs]"), timeout=20)
        # Stopped on the SSH engine with its own CLI: the wall shows it live.
        subprocess.run(["docker", "-H", SSH_ENGINE_HOST, "stop", "-t", "0", there], check=True, capture_output=True)
        wait_for(lambda: "exited" in rows_by_engine(wall).get("ssh", ""), timeout=20)
        wait_for(lambda: "running" in rows_by_engine(wall).get("local", ""))
        shot(wall, "shared-dashboard-two-engines")
        # Its row leads to its page on its engine.
        wait_for(lambda: clicked(wall, there))
        wait_for(lambda: "engine=ssh" in wall.current_url)
        assert "ssh" in text_of(wall, "dl.facts") and "exited" in text_of(wall, "dl.facts")
        assert not page_errors(wall), page_errors(wall)
    finally:
        if wall:
            wall.quit()
        docker("rm", "-f", here)
        subprocess.run(["docker", "-H", SSH_ENGINE_HOST, "rm", "-f", there], capture_output=True)


def test_an_admin_adds_an_engine_over_ssh_in_the_browser_and_its_key_is_never_shown_again(browser):
    """The same SSH host as `ssh`, added by pasting its key and known_hosts lines (scripts/e2e's Berth of engines)."""
    assert ENGINES_URL and SSH_ENGINE_HOST
    third = SSH_ENGINE_HOST.removeprefix("unix://").removesuffix("/docker.sock")
    port = open(third + "/ssh/port").read().strip()
    key = open(third + "/ssh/client/id_ed25519").read()
    name = "ui-" + uuid.uuid4().hex[:6]
    sign_in(browser, "bt-admin", ENGINES_URL)
    browser.find_element(By.LINK_TEXT, "Engines").click()
    browser.find_element(By.LINK_TEXT, "Add an engine").click()
    browser.find_element(By.NAME, "name").send_keys(name)
    browser.find_element(By.NAME, "address").send_keys(f"ssh://root@127.0.0.1:{port}")
    # A key that does not read: the form again, with the reason, and what was typed (but the key) still there.
    browser.find_element(By.NAME, "sshKey").send_keys("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----")
    browser.find_element(By.NAME, "knownHosts").send_keys(open(third + "/ssh/client/known_hosts").read())
    browser.find_element(By.CSS_SELECTOR, "form.engine-form button[type=submit]").click()
    assert "SSH private key" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert browser.find_element(By.NAME, "address").get_attribute("value") == f"ssh://root@127.0.0.1:{port}"
    assert browser.find_element(By.NAME, "sshKey").get_attribute("value") == ""
    browser.find_element(By.NAME, "name").clear()
    browser.find_element(By.NAME, "name").send_keys(name)
    browser.execute_script("arguments[0].value = arguments[1]", browser.find_element(By.NAME, "sshKey"), key)
    browser.find_element(By.CSS_SELECTOR, "form.engine-form button[type=submit]").click()
    wait_for(lambda: f"Added the engine {name}." in text_of(browser, "[role=status]"))
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-engine='{name}']")
    assert "added by bt-admin" in row.text
    shot(browser, "engines-added")
    # Its pages answer over SSH; its edit form never shows the key.
    browser.find_element(By.CSS_SELECTOR, f"tr[data-engine='{name}'] a[href='/engines/{name}/containers']").click()
    wait_for(lambda: browser.current_url.endswith(f"/engines/{name}/containers"))
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Containers"
    assert not browser.find_elements(By.CSS_SELECTOR, "[role=alert]"), "the engine answered"
    browser.get(ENGINES_URL + f"/engines/{name}/edit")
    assert "PRIVATE KEY" not in browser.page_source
    assert "saved — leave empty to keep it" in browser.page_source
    # Removed again; the audit trail has both, naming no key.
    browser.get(ENGINES_URL + "/engines")
    browser.find_element(By.CSS_SELECTOR, f"tr[data-engine='{name}'] form[action$='/remove'] button").click()
    wait_for(lambda: f"Removed the engine {name}" in text_of(browser, "[role=status]"))
    browser.get(ENGINES_URL + "/audit?q=" + name)
    assert "engine.add" in browser.page_source and "engine.remove" in browser.page_source
    assert "PRIVATE KEY" not in browser.page_source
