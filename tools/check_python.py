"""Fail early, with a clear message, on a Python older than the course supports."""
import sys

if sys.version_info < (3, 10):
    sys.exit(f"This course needs Python 3.10 or newer; `python3` here is {sys.version.split()[0]}. "
             "Install a newer Python, or run `make PYTHON=python3.12 test`.")
