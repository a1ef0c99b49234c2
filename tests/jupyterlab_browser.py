"""JupyterLab in headless Chromium, driven as a learner drives it: open a notebook, Run All, look.

``find_browser`` says whether Chromium and its driver are installed (and why
not); ``JupyterLab`` is a server on a private loopback port with settings,
kernels and workspaces of its own, serving a copy of the notebooks (so that
nothing it saves touches the committed ones); ``Lab`` is the browser on it.
``Lab.look`` returns what a person would see in the open notebook: error
outputs, failed widgets, outputs wider than their area, images, links, the
architecture diagram's labels. The checks read the page (DOM and layout), and
JupyterLab's own commands run the cells (``expose_app_in_browser``, as
JupyterLab's own UI tests, Galata, do).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: A laptop's window: the notebook area beside JupyterLab's side bar is about 950 px wide, as in the report.
WINDOW = (1280, 900)

#: JupyterLab settings: every cell attached to the page (the default skips laying out cells off screen,
#: and the checks measure every output), no news or update checks (requests to the internet), no autosave.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "scrollPastEnd": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


@dataclass
class Browser:
    chromium: str
    chromedriver: str


def find_browser() -> tuple[Browser | None, str]:
    """Chromium and chromedriver from PATH (Debian: ``apt-get install chromium chromium-driver``), or why not."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, "selenium is not installed (make .venv/.installed)"
    chromium = next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        missing = " and ".join(name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path)
        return None, f"no browser: {missing} not installed (apt-get install chromium chromium-driver)"
    return Browser(chromium, driver), ""


def _port() -> int:
    from tests.emulator_helpers import free_port

    return free_port()


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1, its own token, settings and kernels, serving a copy of ``notebooks``."""

    def __init__(self, notebooks: Path, workdir: Path, env: dict[str, str]) -> None:
        self.root = workdir / "notebooks"
        shutil.copytree(notebooks, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        settings_dir = workdir / "lab-settings"
        for name, values in SETTINGS.items():
            path = settings_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.token = secrets.token_hex(16)
        self.port = _port()
        isolated = {
            # The user's own Jupyter configuration, kernels and workspaces stay out of it.
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "JUPYTER_DATA_DIR": str(workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
            "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "workspaces"),
        }
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}", "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # JupyterLab refuses root without it; CI runs as root
        self.log_path = workdir / "jupyterlab.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, env={**env, **isolated}, stdout=self._log, stderr=subprocess.STDOUT,
                                        cwd=self.root)
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab stopped at start: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


# What the page shows of the open notebook, measured in the browser. Outputs are read from the DOM
# (what is drawn) and, for errors, also from the model (an error scrolled away is still an error).
_LOOK = r"""
const app = window.jupyterapp, panel = app.shell.currentWidget, notebook = panel.content;
const area = notebook.node.getBoundingClientRect();
const report = {errors: [], failed_widgets: [], unrendered_widgets: [], unfinished_text_bars: [], progress: [],
                overflowing: [], images: [],
                links: [], diagram: null, tables: [], documents: [], cells: notebook.widgets.length};
const text = (el) => (el.innerText || el.textContent || '').replace(/\u2007/g, ' ').trim();
notebook.widgets.forEach((cell, index) => {
  if (cell.model.type !== 'code') return;
  const source = cell.model.sharedModel.getSource();
  for (const output of cell.model.outputs.toJSON()) {
    if (output.output_type === 'error') report.errors.push({cell: index, source, text: output.ename + ': ' + output.evalue});
    if (output.output_type === 'stream' && output.name === 'stderr') report.errors.push({cell: index, source, text: [].concat(output.text).join('')});
  }
  cell.node.querySelectorAll('.jp-OutputArea-output').forEach((out) => {
    const box = out.getBoundingClientRect();
    const mime = out.getAttribute('data-mime-type') || '';
    // Wider than its area: the output scrolls sideways or sticks out of the notebook, or something in
    // it does (a <pre> with its own scroll bar, a table past the output's edge).
    const wide = [out, ...out.querySelectorAll('*')].find((el) => {
      const r = el.getBoundingClientRect();
      const scrolls = el.scrollWidth > el.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
      return scrolls || (r.width > 0 && (r.right > box.right + 1 || r.right > area.right + 1));
    });
    if (wide)
      report.overflowing.push({cell: index, source, element: wide.tagName.toLowerCase(), scrollWidth: wide.scrollWidth,
                               clientWidth: wide.clientWidth, right: wide.getBoundingClientRect().right, area: Math.min(box.right, area.right)});
    if (/Error displaying widget|Loading widget/.test(text(out)))
      report.unrendered_widgets.push({cell: index, source, text: text(out)});
    out.querySelectorAll('.widget-hprogress, .widget-vprogress').forEach((bar) => {
      const styles = [...bar.querySelectorAll('.progress-bar')].flatMap((el) => [...el.classList]).filter((c) => c.startsWith('progress-bar-'));
      const row = bar.closest('.widget-hbox') || bar;
      const entry = {cell: index, source, styles, text: text(row)};
      report.progress.push(entry);
      if (styles.includes('progress-bar-danger')) report.failed_widgets.push(entry);
    });
    // A bar drawn as its text (a saved notebook whose widgets are not restored): "0%|  | 0/60 [...]".
    if (!out.querySelector('.jupyter-widgets')) {
      const t = text(out), percent = t.match(/(\d+)%\|/), count = t.match(/\|\s*(\d+)\/(\d+) \[/);
      if ((percent && +percent[1] < 100) || (count && +count[1] < +count[2]))
        report.unfinished_text_bars.push({cell: index, source, text: t});
    }
    out.querySelectorAll('img').forEach((img) => {
      const r = img.getBoundingClientRect();
      report.images.push({cell: index, loaded: img.complete && img.naturalWidth > 0, width: r.width, height: r.height,
                          inside: r.left >= box.left - 1 && r.right <= box.right + 1});
    });
    out.querySelectorAll('a[href]').forEach((a) => {
      const r = a.getBoundingClientRect();
      report.links.push({cell: index, href: a.href, text: text(a), width: r.width,
                         inside: r.left >= box.left - 1 && r.right <= box.right + 1});
    });
    out.querySelectorAll('table').forEach((table) => {
      const caption = table.querySelector('caption');
      report.tables.push({cell: index, source, caption: caption ? text(caption) : '',
                          rows: [...table.querySelectorAll('tr')].map((tr) => [...tr.children].map(text))});
    });
    out.querySelectorAll('pre').forEach((pre) => report.documents.push({cell: index, source, text: pre.textContent}));
    const picture = out.querySelector('img.walkthrough-architecture');
    if (picture) {
      // The diagram is an SVG image: measure its drawing in this browser, with the fonts it is drawn in.
      const r = picture.getBoundingClientRect();
      const holder = document.createElement('div');
      holder.style.cssText = 'position:absolute;left:-10000px;top:0;visibility:hidden';
      holder.innerHTML = atob(picture.src.split(',')[1]);
      document.body.appendChild(holder);
      const svg = holder.querySelector('svg');
      const boxes = [...svg.querySelectorAll('rect.box')].map((el) => el.getBBox());
      const inside = (b, o) => b.x >= o.x - 0.5 && b.y >= o.y - 0.5 && b.x + b.width <= o.x + o.width + 0.5 && b.y + b.height <= o.y + o.height + 0.5;
      const meets = (b, o) => b.x < o.x + o.width && o.x < b.x + b.width && b.y < o.y + o.height && o.y < b.y + b.height;
      const labels = [...svg.querySelectorAll('text.arrow-label')].map((el) => ({text: el.textContent, box: el.getBBox()}));
      const names = [...svg.querySelectorAll('text.box-label')].map((el) => ({text: el.textContent, box: el.getBBox()}));
      const vb = svg.getAttribute('viewBox') ? svg.viewBox.baseVal : {x: 0, y: 0, width: svg.width.baseVal.value, height: svg.height.baseVal.value};
      const within = (b) => b.x >= vb.x && b.y >= vb.y && b.x + b.width <= vb.x + vb.width && b.y + b.height <= vb.y + vb.height;
      report.diagram = {
        cell: index, loaded: picture.complete && picture.naturalWidth > 0, width: r.width, height: r.height,
        output_width: box.width, viewBox: svg.getAttribute('viewBox'),
        labels_on_boxes: labels.filter((l) => boxes.some((b) => meets(l.box, b))).map((l) => l.text),
        labels_overlapping: labels.filter((l, i) => labels.some((o, j) => j !== i && meets(l.box, o.box))).map((l) => l.text),
        names_outside_boxes: names.filter((n) => !boxes.some((b) => inside(n.box, b))).map((n) => n.text),
        outside_view: labels.concat(names).filter((l) => !within(l.box)).map((l) => l.text),
        labels: labels.length, boxes: boxes.length,
      };
      holder.remove();
    }
  });
});
return report;
"""


#: The element that scrolls the open notebook (JupyterLab 4: the windowed list's outer node), as ``s``.
_SCROLLER = ("const p = window.jupyterapp.shell.currentWidget;"
             "const s = p.content.node.querySelector('.jp-WindowedPanel-outer') || p.content.node.closest('.jp-WindowedPanel-outer')"
             " || p.content.node;")


class Lab:
    """Chromium (headless, through chromedriver) on a JupyterLab server."""

    def __init__(self, browser: Browser, lab: JupyterLab, profile: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = browser.chromium
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={profile}",
                         "--no-first-run", "--disable-background-networking", "--disable-component-update"):
            options.add_argument(argument)
        self.lab = lab
        self.driver = webdriver.Chrome(service=Service(browser.chromedriver), options=options)
        self.driver.set_script_timeout(30)

    def quit(self) -> None:
        self.driver.quit()

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, condition: str, timeout_s: float, what: str, *args: Any) -> Any:
        """Poll a JavaScript expression (``return …``) until it is truthy."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.js(condition, *args)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {timeout_s:.0f} s. JupyterLab's log:\n{self.lab.log_tail()}")

    def open(self, name: str, timeout_s: float = 120.0) -> None:
        """Open a notebook as a learner does (its address), and wait until its kernel is ready."""
        self.driver.get(f"{self.lab.url}/lab/tree/{name}?reset&token={self.lab.token}")
        self.wait("return window.jupyterapp && window.jupyterapp.shell && window.jupyterapp.shell.currentWidget"
                  " && window.jupyterapp.shell.currentWidget.context && window.jupyterapp.shell.currentWidget.context.path === arguments[0]",
                  timeout_s, f"{name} did not open", name)
        self._wait_kernel_idle(timeout_s, name)
        self.settle()

    def _wait_kernel_idle(self, timeout_s: float, name: str) -> None:
        self.wait("const s = window.jupyterapp.shell.currentWidget.sessionContext;"
                  "return s.session && s.session.kernel && s.session.kernel.status === 'idle'",
                  timeout_s, f"the kernel of {name} did not start")

    def settle(self, quiet_s: float = 1.0) -> None:
        """Let outputs render: widgets and images draw after their messages arrive."""
        self.wait("return ![...document.querySelectorAll('.jp-OutputArea-output')].some("
                  "(o) => /Loading widget/.test(o.textContent)) && [...document.images].every((i) => i.complete)",
                  30, "outputs did not finish rendering")
        time.sleep(quiet_s)

    def _run(self, command: str, timeout_s: float, confirm: bool = False) -> Any:
        self.js("window.__walkthroughRun = undefined;"
                "window.jupyterapp.commands.execute(arguments[0]).then("
                "(r) => { window.__walkthroughRun = {result: r === undefined ? true : r}; },"
                "(e) => { window.__walkthroughRun = {result: 'error: ' + e}; });", command)
        if confirm:  # JupyterLab asks before restarting the kernel; a learner clicks Restart
            from selenium.webdriver.common.by import By

            self.wait("return document.querySelector('.jp-Dialog .jp-mod-accept')", 30, "no restart dialog")
            self.driver.find_element(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept").click()
        outcome = self.wait("return window.__walkthroughRun", timeout_s, f"{command} did not finish")
        self.wait("const s = window.jupyterapp.shell.currentWidget.sessionContext;"
                  "return s.session.kernel.status === 'idle'", 60, "the kernel stayed busy")
        self.settle()
        return outcome["result"]

    def run_all(self, timeout_s: float = 600.0) -> Any:
        """Run ▸ Run All Cells; true when every cell ran (JupyterLab stops at a cell that fails)."""
        return self._run("notebook:run-all-cells", timeout_s)

    def restart_and_run_all(self, timeout_s: float = 600.0) -> Any:
        """Kernel ▸ Restart Kernel and Run All Cells…, confirmed in JupyterLab's dialog."""
        return self._run("notebook:restart-run-all", timeout_s, confirm=True)

    def look(self) -> dict[str, Any]:
        return self.js(_LOOK)

    def screenshot(self, path: Path) -> None:
        """The whole notebook in one picture: the window made as tall as the notebook, then put back."""
        path.parent.mkdir(parents=True, exist_ok=True)
        height = self.js(_SCROLLER + "s.scrollTop = 0; return s.scrollHeight + (window.innerHeight - s.clientHeight);")
        self.driver.set_window_size(WINDOW[0], min(int(height) + 120, 16000))
        time.sleep(0.5)
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(*WINDOW)

    def close(self) -> None:
        """Shut the notebook's kernel down and close its tab without saving (the copy is thrown away anyway)."""
        self.js("const w = window.jupyterapp.shell.currentWidget; w.sessionContext.shutdown().then(() => w.dispose());")
        time.sleep(0.5)
