# Two commands do everything (see README.md):
#   make lab    set up .venv (first time only) and open the lessons in JupyterLab
#   make test   set up .venv (first time only) and run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Jupyter refuses to run as root unless told (containers, classroom VMs often are root)
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

# Our matrices are small: one BLAS thread is as fast as two and does not fight the other
# processes (Jupyter, the browser) for the cores.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: lab test test-fast test-cpus browser-deps notebooks exercises site benchmark clean

$(STAMP): pyproject.toml
	@$(PYTHON) tools/check_python.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/01_gradient_descent.ipynb

# Every test: lint; then, side by side on two cores (tools/parallel.py), the pytest tests
# (engine, lessons, packaging), and every notebook under nbval followed by the lessons' claim
# tests under one OpenBLAS kernel other than this CPU's own (tools/test_cpus.py); then the real
# browser: the lessons in JupyterLab, and the website built from the saved notebooks and the
# pictures the nbval run left (tests/test_site.py).
test: $(STAMP)
	$(BIN)/ruff check helpers tests benchmarks tools data notebooks
	$(BIN)/python tools/parallel.py \
		'$(BIN)/python -m pytest tests -m "not browser"' \
		'$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider notebooks && $(BIN)/python tools/test_cpus.py --kernels other --no-notebooks'
	$(BIN)/python tools/ensure_chromium.py
	$(BIN)/python -m pytest tests -m browser

# The pytest tests without the browser (quick feedback while writing): no lint, no notebook
# runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not browser"

# The lessons' checked outputs and claim tests under every OpenBLAS kernel this CPU can run
# (Sandybridge, Haswell, SkylakeX: what other students' CPUs compute; tools/test_cpus.py).
# Run it before a lesson change lands. One lesson: make test-cpus NOTEBOOKS=03
test-cpus: $(STAMP)
	$(BIN)/python tools/test_cpus.py $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS))

# Find Chromium for the browser tests, installing it where we can (tools/ensure_chromium.py).
browser-deps: $(STAMP)
	@$(BIN)/python tools/ensure_chromium.py

# Re-execute every lesson in a fresh kernel, save it with its outputs, and cut the README's
# thumbnails from them.
notebooks: $(STAMP)
	$(BIN)/python tools/run_notebooks.py
	$(BIN)/python tools/make_thumbnails.py

# The exercises: run each solution notebook (notebooks/exercises/solutions/), write its student
# version to notebooks/exercises/ (solution regions replaced by stubs) and run that too.
exercises: $(STAMP)
	$(BIN)/python tools/make_exercises.py

# The course as a static website in site/ (open site/index.html, or publish the folder): every
# lesson and exercise page from the saved notebooks, each slider panel a viewer over the
# pictures the last lesson run drew (build/panels/: `make notebooks` or `make test` leave them).
site: $(STAMP)
	$(BIN)/python tools/build_site.py

# Time the engine (against PyTorch where installed), each lesson and every slider; the report
# is printed and written to benchmarks/results/latest.md.
benchmark: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Remove what setup, tests and benchmarks leave behind (all of it git-ignored).
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build site *.egg-info tests/artifacts \
		benchmarks/results
