# bingo-kit: two commands do all the set-up.
#   make lessons        -> .venv + packages, the student workspace (classroom/), then JupyterLab on it
#                          (NO_BROWSER=1 or JUPYTER_ARGS=--no-browser for headless machines; JUPYTER_ARGS passes more)
#   make test           -> the same, plus the system packages the tests need, then the whole suite
#   make check-lessons  -> the teacher's morning check: every lesson run by nbval, one line per lesson
#   make build-lessons  -> (authors) regenerate lessons/ and the student copies from lessons/source/
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Debian packages. The Simulated Uno needs simavr (run the shipped receiver), the AVR toolchain + Arduino core
# (the Simulated blank Uno's bootloader; refreshing the shipped .hex) and avrdude (one of the two installers the
# tests compare); the lessons install these.
# Lesson 8 reads Fashion-MNIST (offline data); the tests also need Chromium (real-browser tests).
SIM_PACKAGES    := gcc-avr avr-libc arduino-core-avr simavr libsimavr-dev libsimavrparts1 avrdude
LESSON_PACKAGES := $(SIM_PACKAGES) dataset-fashion-mnist
SYSTEM_PACKAGES := $(LESSON_PACKAGES) chromium
# Two workers; each notebook stays on one worker (nbval needs its cells in order).
PYTEST_ARGS ?= -n 2 --dist loadfile
# The student workspace: copies of the student lessons; a notebook a student changed is never overwritten.
CLASSROOM ?= classroom

.PHONY: help setup lessons classroom check-lessons build-lessons test test-fast system-packages sim-packages \
        page page-packages hub-proxy benchmarks clean

help:
	@echo "make lessons        start JupyterLab on the student workspace (NO_BROWSER=1 to not open a browser)"
	@echo "make classroom      only build the student workspace (CLASSROOM=DIR, default classroom/)"
	@echo "make check-lessons  run every lesson as nbval does; one line per lesson (teachers, before class)"
	@echo "make test       install everything and run unit, firmware, browser and notebook tests"
	@echo "make benchmarks print the kit's speed and size ratios"

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "bingo-kit needs Python 3.10 or newer; this is " + sys.version.split()[0])'
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV). On Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	@echo "Installing the kit's Python packages into $(VENV) (a few minutes; pip shows each one, its size and the time left)"
	$(PY) -m pip install --upgrade --progress-bar on pip
	$(PY) bingo_kit/install_torch.py
	$(PY) -m pip install --progress-bar on -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .   # our own package: seconds, nothing to show
	@du -sh $(VENV) 2>/dev/null | sed 's/^/installed: /' || true
	@touch $@

setup: $(VENV)/.installed

# No display (a server, an SSH session) means no browser to open, even without NO_BROWSER=1.
HEADLESS := $(if $(NO_BROWSER)$(filter --no-browser,$(JUPYTER_ARGS)),1,$(if $(DISPLAY)$(WAYLAND_DISPLAY),,1))
lessons: setup sim-packages
	$(VENV)/bin/bingo-kit lessons "$(CLASSROOM)" $(if $(HEADLESS),--no-browser) \
	  $(foreach option,$(filter-out --no-browser,$(JUPYTER_ARGS)),--jupyter=$(option))

classroom: setup
	$(VENV)/bin/bingo-kit lessons "$(CLASSROOM)" --no-start

# Teacher copies only (lessons/*.ipynb): checked outputs compared, then one line per lesson.
check-lessons: setup sim-packages
	$(PY) -m pytest $(PYTEST_ARGS) --nbval-lax --nbval-current-env --lesson-summary -q lessons

build-lessons: setup sim-packages
	$(PY) -m bingo_kit.classroom $(LESSONS)

# The lessons install what the Simulated Uno needs, or say exactly what to run; without it every lesson but
# flashing the Simulated Uno still works, so this never stops `make lessons`.
sim-packages:
	@$(MAKE) --no-print-directory system-packages SYSTEM_PACKAGES="$(LESSON_PACKAGES)" \
	  || echo "Without these the Simulated Uno and lesson 8's pictures are missing; every other part of the lessons works."

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "Not a Debian/Ubuntu system: install$$missing with your package manager."; exit 1; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; \
	else echo "These Debian/Ubuntu packages are missing:$$missing"; \
	     echo "Install them with:  sudo apt-get install$$missing   (then run make again)"; exit 1; fi; \
	echo "Installing system packages:$$missing"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq$$missing

# The browser side (bingo_kit/page: the Simulated Uno in the page). Its npm packages, exactly as package-lock.json
# pins them: the tests rebuild the vendored dist/page.js with them and fail when it is stale. `make page` rebuilds
# it after an edit of bingo_kit/page/src. Classrooms never need npm: the built bundle ships in the package.
PAGE_DIR := bingo_kit/page
$(PAGE_DIR)/node_modules/.package-lock.json: $(PAGE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing (Node.js 20 or newer): on Debian/Ubuntu sudo apt-get install nodejs npm"; exit 1; }
	npm ci --prefix $(PAGE_DIR) --no-audit --no-fund --loglevel=error
page-packages: $(PAGE_DIR)/node_modules/.package-lock.json

page: page-packages
	node $(PAGE_DIR)/build.mjs


# tests/test_hub.py runs a real JupyterHub, whose proxy (configurable-http-proxy) is a Node.js program: installed
# here from the committed lockfile, never fetched while the tests run. Node.js 20+ and npm; Debian's when missing.
HUB_PROXY_DIR := tests/hub
$(HUB_PROXY_DIR)/node_modules/.installed: $(HUB_PROXY_DIR)/package.json $(HUB_PROXY_DIR)/package-lock.json
	@command -v npm >/dev/null || $(MAKE) --no-print-directory system-packages SYSTEM_PACKAGES="nodejs npm"
	npm ci --prefix $(HUB_PROXY_DIR) --no-audit --no-fund
	@touch $@

hub-proxy: $(HUB_PROXY_DIR)/node_modules/.installed

test: setup system-packages page-packages hub-proxy
	$(PY) -m pytest $(PYTEST_ARGS) --nbval-lax --nbval-current-env --lesson-summary tests lessons bingo_kit/student_lessons

# Unit tests only: no simulator, no browser, no notebooks.
test-fast: setup
	$(PY) -m pytest -m "not firmware and not browser" tests

benchmarks: setup system-packages
	$(PY) benchmarks/race.py
	$(PY) benchmarks/bingo_findings.py
	$(PY) benchmarks/flash.py
	$(PY) benchmarks/install.py
	$(PY) benchmarks/install.py --board mega
	$(PY) benchmarks/widgets.py
	$(PY) benchmarks/digit_pad.py
	$(PY) benchmarks/challenge.py

clean:
	rm -rf $(VENV) .pytest_cache   # builds live in the user cache (bingo_kit.paths); classroom/ is the students' work
