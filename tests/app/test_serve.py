"""``skfisher label serve``: the HTTP API as any client sees it, the page in a
real headless Chromium (skipped without one), and Ctrl-C during training."""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from _images import digit_pngs
from PIL import Image

import skfisher
from skfisher import LabelingProject
from skfisher.cli import main

SOURCE = str(Path(skfisher.__file__).parents[1])
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
N = 10  # images per round


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """60 digits (0-2) as PNG files: 3 labeled per class, 51 unlabeled; path -> label."""
    return digit_pngs(tmp_path_factory.mktemp("images"), 60)


def make_project(path, images, max_epochs=1):
    root, _ = images
    return LabelingProject.create(
        path,
        labeled=root / "labeled",
        unlabeled=root / "unlabeled",
        image_size=8,
        max_epochs=max_epochs,
    )


class Server:
    """``skfisher label serve`` in a subprocess, and plain HTTP requests to it."""

    def __init__(self, project, *args):
        env = {**os.environ, "PYTHONPATH": SOURCE, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "skfisher", "label", "serve", str(project)]
        self.proc = subprocess.Popen(
            [*command, "--port", "0", "-n", str(N), "--device", "cpu", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.output = []
        while not any("token=" in line for line in self.output):
            line = self.proc.stdout.readline()
            assert line, "".join(self.output)
            self.output.append(line)
        self.url = re.search(r"http://\S+", "".join(self.output)).group()
        self.base, self.token = self.url.split("/?token=")

    def request(self, path, body=None, token=True):
        """``(status, JSON)`` of a GET (or, with ``body``, a POST) to ``path``."""
        headers = {"Content-Type": "application/json"}
        if token is True:
            headers["X-Skfisher-Token"] = self.token
        elif token:
            headers["X-Skfisher-Token"] = token
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path):
        status, body = self.request(path)
        assert status == 200, body
        return json.loads(body)

    def wait_idle(self, timeout=240):
        """The job's state once the background job has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get("/api/job")
            if not job["running"] and not job["queued"] and job["seconds"] is not None:
                return job
            time.sleep(0.3)
        raise AssertionError(f"the background job did not finish: {job}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            out, _ = self.proc.communicate(timeout=120)
            self.output.append(out)
        return self.proc.returncode


@pytest.fixture(scope="module")
def app_extra():
    pytest.importorskip("starlette", reason="label serve needs skfisher[app] (starlette)")
    pytest.importorskip("uvicorn", reason="label serve needs skfisher[app] (uvicorn)")


def test_without_the_app_extra_serve_says_what_to_install(tmp_path, images, monkeypatch, capsys):
    project = make_project(tmp_path / "proj", images)
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # "import uvicorn" raises ImportError
    assert main(["label", "serve", str(project.path)]) == 2
    err = capsys.readouterr().err
    assert "skfisher label serve needs the app extra (uvicorn is missing)" in err
    assert "pip install 'skfisher[app]'" in err


@pytest.fixture(scope="module")
def served(app_extra, tmp_path_factory, images):
    """A project served on a free port, its first round queried."""
    project = make_project(tmp_path_factory.mktemp("served") / "my-project", images, 4)
    server = Server(project.path, "--cv", "2")
    try:
        job = server.wait_idle()
        assert job["error"] is None and [p["n_labels"] for p in job["learning_curve"]] == [9]
        yield project, server
    finally:
        server.stop()


def files(project):
    return {name: (project.path / name).read_bytes() for name in ("project.json", "labels.csv")}


def test_http_api_refuses_bad_requests_and_writes_nothing(served, images):
    project, server = served
    _, truth = images
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{32}", server.url)
    state = server.get("/api/state")
    assert state["round"] == 1 and len(state["items"]) == N
    paths = [item["path"] for item in state["items"]]
    assert paths == project.rounds[0]["paths"]
    assert all(len(item["guesses"]) == 3 for item in state["items"])
    before = files(project)

    # the token, on every request: pages, assets, images and the API
    for path in ("/", "/static/app.js", "/api/state", "/api/image/1/0"):
        assert server.request(path, token=False)[0] == 401
        status, body = server.request(path, token="wrong")
        assert status == 403 and "wrong token" in body["error"]
    assert server.request("/api/submit", {"labels": {}}, token=False)[0] == 401
    status, png = server.request("/api/image/1/3")
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(paths[3]) as original, Image.open(__import__("io").BytesIO(png)) as shown:
        assert np.array_equal(np.asarray(original), np.asarray(shown))
    status, page = server.request("/")
    assert status == 200 and server.token.encode() in page

    good = {"round": 1, "stamp": state["stamp"]}
    refused = [
        (
            {**good, "labels": {paths[0]: "7"}},
            400,
            r"unknown class name '7'.*known classes: 0, 1, 2",
        ),
        ({**good, "round": 2, "labels": {paths[0]: "1"}}, 409, "current round is 1"),
        ({**good, "stamp": "0" * 16, "labels": {paths[0]: "1"}}, 409, "this page is stale"),
        ({**good, "labels": {str(images[0] / "x.png"): "1"}}, 400, "is not an image of round 1"),
        ({**good, "labels": {}}, 400, "no labels to submit"),
        ([1, 2], 400, "send a JSON object"),
    ]
    for body, code, message in refused:
        status, answer = server.request("/api/submit", body)
        assert status == code and re.search(message, answer["error"], re.S), answer
        assert re.search("[Nn]othing was (written|taught)", answer["error"])
    status, answer = server.request("/api/classes", {"name": " 1 "})
    assert status == 400 and "class '1' already exists" in answer["error"]
    assert files(project) == before
    assert not server.get("/api/job")["running"]


def _no_browser():
    """Why no headless Chromium can run here, or None."""
    try:
        import selenium.webdriver  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not os.access(exe, os.X_OK):
            return f"no {exe}: install Debian's chromium and chromium-driver"
    return None


def _browser():
    """A headless Chromium driven by Selenium, or a skip with the reason."""
    if _no_browser():
        pytest.skip(_no_browser())
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,820"):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(options=options, service=service)


def _wait(condition, timeout=240, what="the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _shots_dir(tmp_path):
    """Where screenshots go: SKFISHER_SCREENSHOTS (e.g. docs/_static) or a temporary folder."""
    return Path(os.environ.get("SKFISHER_SCREENSHOTS", tmp_path))


def _label_round(driver, truth, classes):
    """Label every card: number keys, class buttons and guess chips; undo once."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    def keys(text):
        ActionChains(driver).send_keys(text).perform()

    cards = driver.find_elements(By.CSS_SELECTOR, "#grid .card")
    order = [c.get_attribute("data-path") for c in cards]
    wrong = classes[(classes.index(truth[order[0]]) + 1) % len(classes)]
    keys(str(classes.index(wrong) + 1))  # a wrong key, then undo, then skip and undo
    keys("z")
    keys("s")
    driver.find_element(By.ID, "undo").click()
    for k, path in enumerate(order):
        label = truth[path]
        if k % 3 == 0:
            keys(str(classes.index(label) + 1))
        elif k % 3 == 1:
            driver.find_element(By.CSS_SELECTOR, f'#classes button[data-class="{label}"]').click()
        else:
            card = driver.find_elements(By.CSS_SELECTOR, "#grid .card")[k]
            chips = card.find_elements(By.CSS_SELECTOR, ".guess")
            next(c for c in chips if c.text.split()[0] == label).click()
    return order


def test_label_a_round_in_the_browser(served, images, tmp_path):
    from selenium.webdriver.common.by import By

    project, server = served
    _, truth = images
    driver = _browser()
    shots = _shots_dir(tmp_path)
    copy = LabelingProject(shutil.copytree(project.path, tmp_path / "copy"))
    try:
        driver.get(server.url)
        _wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#grid .card")) == N)
        assert driver.find_element(By.ID, "round").text == "Round 1"
        order = _label_round(driver, truth, project.classes)
        assert driver.find_element(By.ID, "progress").text.startswith(f"{N} / {N} ({N} labeled")
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(shots / "label_serve.png"))
        driver.find_element(By.ID, "submit").click()
        message = _wait(lambda: driver.find_element(By.ID, "message").text, what="the submit")
        assert f"taught {N} new label(s)" in message
        # the page stays usable: the round's labels are listed for review while it trains
        _wait(lambda: driver.find_element(By.ID, "round").text == "Round 2", what="round 2")
        _wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#grid .card")) == N)
        reviewed = driver.find_elements(By.CSS_SELECTOR, "#review .card")
        assert {c.get_attribute("data-path") for c in reviewed} == set(order)

        # the files are what `label teach` writes for the same labels
        copy.teach({p: truth[p] for p in order})
        assert copy.labels() == project.labels()
        rows = [line.split(",")[:3] for line in (project.path / "labels.csv").open()]
        assert rows == [line.split(",")[:3] for line in (copy.path / "labels.csv").open()]
        config, expected = project.config, copy.config
        assert config["rounds"][:1] == expected["rounds"] and len(config["rounds"]) == 2
        assert {**config, "rounds": []} == {**expected, "rounds": []}
        second = config["rounds"][1]["paths"]
        assert len(second) == N and not set(second) & set(project.labels())

        # a stale page: labels taught behind its back are refused, nothing written
        before_stale = files(project)
        LabelingProject(project.path).teach({second[0]: truth[second[0]]})
        stamp = driver.execute_script("return S.stamp")
        status, answer = server.request(
            "/api/submit", {"round": 2, "stamp": stamp, "labels": {second[1]: truth[second[1]]}}
        )
        assert status == 409 and "stale" in answer["error"]
        assert files(project)["labels.csv"] != before_stale["labels.csv"]  # only the teach
        assert len(project.labels()) == 9 + N + 1

        # a new class, from the page; an empty name is refused with a message
        driver.find_element(By.ID, "add-class-name").send_keys("   ")
        driver.find_element(By.ID, "add-class").click()
        _wait(lambda: "non-empty" in driver.find_element(By.ID, "message").text)
        driver.find_element(By.ID, "add-class-name").send_keys("9")
        driver.find_element(By.ID, "add-class").click()
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, '#classes button[data-class="9"]'))
        assert project.classes == ["0", "1", "2", "9"]

        # the status view: counts, learning curve, phase times, agreement
        server.wait_idle()
        driver.find_element(By.CSS_SELECTOR, '.tab[data-view="status"]').click()
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#curve svg circle"))
        _wait(lambda: "kappa" in driver.find_element(By.ID, "advice").text, what="the agreement")
        counts = driver.find_element(By.ID, "counts").text
        assert f"all {9 + N + 1}" in counts
        assert len(driver.find_elements(By.CSS_SELECTOR, "#rounds tr")) == 3
        driver.execute_script("document.getElementById('message').hidden = true")
        driver.set_window_size(1100, 1250)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(shots / "label_serve_status.png"))
    finally:
        driver.quit()
    job = server.get("/api/job")
    assert [p["n_labels"] for p in job["learning_curve"]] == [9, 9 + N]
    assert [(a["previous"], a["round"]) for a in job["agreement"]] == [(1, 2)]
    assert job["agreement"] == LabelingProject(project.path).agreement(device="cpu")["rounds"]


def test_ctrl_c_during_training_leaves_a_readable_project(app_extra, tmp_path, images, capsys):
    project = make_project(tmp_path / "proj", images, max_epochs=5000)
    server = Server(project.path, "--cv", "0")
    driver = None if _no_browser() else _browser()
    try:
        if driver:  # the page shows the epochs
            from selenium.webdriver.common.by import By

            try:
                driver.get(server.url)
                phase = lambda: driver.find_element(By.ID, "job-phase").text  # noqa: E731
                _wait(lambda: re.search(r"training \(epoch [1-9]\d* / 5000\)", phase()))
            finally:
                driver.quit()
        job = _wait(
            lambda: (
                (j := server.get("/api/job"))["phase"] == "training"
                and (j["epoch"] or 0) >= 2
                and j
            ),
            what="training",
        )
        assert job["max_epochs"] == 5000 and job["running"]
    finally:
        code = server.stop()
    output = "".join(server.output)
    assert code == 130, output
    assert "interrupted; the project is as the last finished step left it" in output
    assert "Traceback" not in output
    with pytest.raises(ProcessLookupError):
        os.kill(job["pid"], 0)  # the worker is gone too
    assert not list(project.path.rglob("*.tmp"))
    assert LabelingProject(project.path).rounds == []
    assert main(["label", "status", str(project.path), "--cv", "0"]) == 0
    assert "9 of 60 images labeled" in capsys.readouterr().out


def test_a_busy_project_is_refused_with_409(app_extra, tmp_path, images, monkeypatch):
    """A writer that holds the project's lock: the page gets 409 and its message."""
    httpx = pytest.importorskip("httpx")

    from skfisher.app import create_app
    from skfisher.utils import FolderInUseError

    project = make_project(tmp_path / "proj", images)
    project.query(4, strategy="margin", device="cpu")
    app = create_app(project.path, token="t0k")
    headers = {"X-Skfisher-Token": "t0k"}

    async def requests(*posts):  # in this process, without the lifespan: no job runs
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            if not posts:
                return (await client.get("/api/state", headers=headers)).json()
            return [await client.post(url, json=body, headers=headers) for url, body in posts]

    state = asyncio.run(requests())
    path = state["items"][0]["path"]

    def busy(self, *args, **kwargs):
        raise FolderInUseError(f"{project.path} is in use by another skfisher process (pid 7)")

    monkeypatch.setattr(LabelingProject, "teach", busy)
    monkeypatch.setattr(LabelingProject, "add_class", busy)
    before = files(project)
    body = {"round": 1, "stamp": state["stamp"], "labels": {path: "1"}}
    for answer in asyncio.run(requests(("/api/submit", body), ("/api/classes", {"name": "9"}))):
        assert answer.status_code == 409
        assert answer.json()["error"].startswith("the project is busy, nothing was written: ")
        assert "(pid 7)" in answer.json()["error"]
    assert files(project) == before
