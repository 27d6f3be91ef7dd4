"""Support for the real-browser tests: a throwaway Jupyter server and Playwright helpers.

`JupyterServer` starts `jupyter lab` (which also serves the Notebook 7 interface) on
127.0.0.1 with a free random port and a random token, on a *copy* of the notebooks in a
temporary directory, with its own Jupyter config/data/runtime and IPython directories, so a
test run never modifies the repository's notebooks and never reads the user's settings.
JupyterLab's autosave is switched off and its news/update checks too (no network here).

The page helpers only look at what a student sees (the DOM), and collect findings as
sentences ("cell 7, widget 'batch size': ...") so a failure says what went wrong where.
"""
import base64
import importlib.util
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

# JupyterLab / Notebook 7 user settings for the throwaway server
USER_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


def load_ensure_chromium():
    """tools/ensure_chromium.py as a module (tools/ is not a package)."""
    path = ROOT / "tools" / "ensure_chromium.py"
    spec = importlib.util.spec_from_file_location("ensure_chromium", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ink(src):
    """Fraction of opaque, non-light pixels of a data:image/png URL (a blank plot: ~0)."""
    import numpy as np
    from PIL import Image
    if not src.startswith("data:image/png;base64,"):
        return None
    image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGBA")
    a = np.asarray(image).astype(int)
    return float(((a[..., 3] > 128) & (a[..., :3].min(axis=-1) < 200)).mean())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """`jupyter lab` on a temporary copy of `notebooks`; use as a context manager."""

    def __init__(self, notebooks, startup_timeout=120, env=None):
        self.notebooks = Path(notebooks)
        self.extra_env = env or {}
        self.startup_timeout = startup_timeout
        self.proc = None

    def __enter__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="bn-course-browser-"))
        self.root = self.tmp / "notebooks"
        shutil.copytree(self.notebooks, self.root,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        config = self.tmp / "jupyter-config"
        for name, settings in USER_SETTINGS.items():
            path = config / "lab" / "user-settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        (config / "jupyter_lab_config.json").write_text(json.dumps({"LabApp": {"news_url": None}}))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config),
                   JUPYTER_DATA_DIR=str(self.tmp / "jupyter-data"),
                   JUPYTER_RUNTIME_DIR=str(self.tmp / "jupyter-runtime"),
                   IPYTHONDIR=str(self.tmp / "ipython"))
        env.pop("MPLBACKEND", None)          # the kernel must use the inline backend
        env.pop("JUPYTER_PATH", None)
        env.update(self.extra_env)
        for attempt in range(3):             # the free port can be taken before we bind it
            self.port, self.token = free_port(), secrets.token_hex(16)
            self.log_path = self.tmp / f"server-{attempt}.log"
            cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
                   f"--port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}",
                   f"--ServerApp.root_dir={self.root}", "--ServerApp.open_browser=False",
                   "--allow-root",                      # CI runs as root
                   "--ServerApp.terminals_enabled=False",
                   "--LabApp.extension_manager=readonly"]   # no PyPI queries
            with open(self.log_path, "w") as log:
                self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                             cwd=self.root, start_new_session=True)
            if self._wait_ready():
                return self
            self._stop()
        raise RuntimeError(f"jupyter lab did not start; its log:\n{self.log_tail()}")

    def __exit__(self, *exc):
        self._stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path, method="GET"):
        req = urllib.request.Request(f"{self.base_url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self):
        """Stop every kernel (between notebooks, so each lesson gets the CPU to itself)."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def _wait_ready(self):
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                self.api("status")
                return True
            except OSError:
                time.sleep(0.3)
        return False

    def _stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.api("shutdown", method="POST")      # shuts its kernels down cleanly
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# One pass over the notebook's DOM: prompts, error outputs, widget outputs, panels.
SNAPSHOT_JS = r"""
(root) => {
  const cells = Array.from(root.querySelectorAll('.jp-Cell'));
  const cellOf = el => cells.indexOf(el.closest('.jp-Cell'));
  const text = el => (el.textContent || '').trim();
  const out = {prompts: [], errors: [], warnings: [], widgets: [], widgetText: [], panels: []};
  root.querySelectorAll('.jp-CodeCell').forEach(c => {
    const p = c.querySelector('.jp-InputPrompt');
    out.prompts.push({cell: cellOf(c), prompt: p ? text(p) : ''});
  });
  root.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    .forEach(o => {
      const t = text(o);
      const isError = /Traceback|^\s*\w*(Error|Exception)\b/m.test(t);
      (isError ? out.errors : out.warnings).push({cell: cellOf(o), text: t.slice(-1500)});
    });
  root.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.widget-view+json"]')
    .forEach(o => out.widgets.push({cell: cellOf(o), text: text(o).slice(0, 300)}));
  root.querySelectorAll('.jp-OutputArea-output[data-mime-type="text/plain"]').forEach(o => {
    if (!o.closest('.widget-output')) {
      out.widgetText.push({cell: cellOf(o), text: text(o).slice(0, 200)});
    }
  });
  root.querySelectorAll('.widget-interact').forEach((p, i) => {
    const sliders = Array.from(p.querySelectorAll(':scope > .widget-slider')).map(s => {
      const label = s.querySelector('.widget-label');
      const handle = s.querySelector('.noUi-handle');
      const readout = s.querySelector('.widget-readout');
      return {label: label ? text(label) : '', readout: readout ? text(readout) : '',
              now: handle ? Number(handle.getAttribute('aria-valuenow')) : null,
              max: handle ? Number(handle.getAttribute('aria-valuemax')) : null};
    });
    out.panels.push({index: i, cell: cellOf(p), sliders});
  });
  out.status = (document.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}})
    .dataset.status || null;
  return out;
}
"""

# What the student sees of one panel's output: a hash per image, the printed text, errors.
PLOT_JS = r"""
(panel, withSrcs) => {
  const hash = s => {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return s.length + ':' + h;
  };
  const area = panel.querySelector(':scope > .widget-output');
  if (!area) return {images: [], text: '', errors: [], srcs: []};
  const images = Array.from(area.querySelectorAll('img')).map(img => hash(img.src));
  const errors = Array.from(area.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .map(o => (o.textContent || '').trim())
    .filter(t => /Traceback|^\s*\w*(Error|Exception)\b/m.test(t));
  const text = (area.textContent || '').trim().slice(0, 500);
  const srcs = Array.from(area.querySelectorAll('img')).map(img => img.src);
  return {images, text, errors, srcs: withSrcs ? srcs : []};
}
"""
