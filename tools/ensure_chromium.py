"""Make sure a Chromium that Playwright can drive is on this machine (for `make test`).

    python tools/ensure_chromium.py          # find it, install it if we can, say what we did

Playwright's own browser download does not work everywhere (closed networks), so the
browser tests drive the system's Chromium instead. This script looks for it ($CHROMIUM, then
chromium / chromium-browser / google-chrome on PATH). When it is missing and we are root
on a Debian/Ubuntu machine, it installs Debian's `chromium` with apt-get. Otherwise it prints
how to install it and exits 0, so `make test` goes on and the browser tests skip with that
reason -- except when the environment variable CI is set: on CI a missing browser is an
error (exit 1), and the browser tests fail instead of skipping.

The tests import `find_chromium()`, `missing_reason()` and `on_ci()` from here, so both agree.
"""
import os
import shutil
import subprocess
import sys

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("install Debian's Chromium with `sudo apt-get install chromium` (Ubuntu: "
                "`sudo apt-get install chromium-browser`), or point the environment variable "
                "CHROMIUM at a Chromium/Chrome executable")


def _works(path):
    """True if `path --version` runs and names a Chromium/Chrome build."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and ("chrom" in out.stdout.lower())


def find_chromium():
    """Path of a working Chromium executable, or None."""
    candidates = [os.environ.get("CHROMIUM")] + [shutil.which(n) for n in NAMES]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK) and _works(path):
            return path
    return None


def missing_reason():
    """The sentence a skipped (or, on CI, failed) browser test shows."""
    return f"no Chromium found for the browser tests: {INSTALL_HINT}"


def on_ci():
    """True when the environment variable CI is set to something other than false/0/no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _can_apt_install():
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _apt_install():
    """Install Debian's chromium (root only). Returns True on success; output goes through."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("ensure_chromium: Chromium missing; installing Debian's chromium with apt-get ...",
          flush=True)
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]):
        if subprocess.run(cmd, env=env).returncode != 0:
            print(f"ensure_chromium: `{' '.join(cmd)}` failed", file=sys.stderr)
            return False
    return True


def main():
    path = find_chromium()
    if path is None and _can_apt_install():
        _apt_install()
        path = find_chromium()
    if path is not None:
        version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        print(f"ensure_chromium: using {version.strip()} for the browser tests")
        return 0
    if on_ci():
        print(f"ensure_chromium: ERROR (CI is set, so this is fatal): {missing_reason()}",
              file=sys.stderr)
        return 1
    print(f"ensure_chromium: {missing_reason()}. The browser tests will be skipped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
