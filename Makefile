# bingo-kit: two commands do all the set-up.
#   make lessons   -> .venv + packages, then JupyterLab on lessons/
#                     (NO_BROWSER=1 or JUPYTER_ARGS=--no-browser for headless machines; JUPYTER_ARGS passes more)
#   make test      -> the same, plus the system packages the tests need, then the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Debian packages the tests need: the AVR toolchain + Arduino core (build the sketch), simavr (run it),
# Fashion-MNIST (offline data), Chromium (real-browser test).
SYSTEM_PACKAGES := gcc-avr avr-libc arduino-core-avr avrdude simavr libsimavr-dev libsimavrparts1 \
                   dataset-fashion-mnist chromium
# Two workers; each notebook stays on one worker (nbval needs its cells in order).
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: help setup lessons test test-fast system-packages benchmarks clean

help:
	@echo "make lessons    start JupyterLab on the lessons (NO_BROWSER=1 to not open a browser)"
	@echo "make test       install everything and run unit, firmware, browser and notebook tests"
	@echo "make benchmarks print the kit's speed and size ratios"

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "bingo-kit needs Python 3.10 or newer; this is " + sys.version.split()[0])'
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV). On Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

setup: $(VENV)/.installed

# No display (a server, an SSH session) means no browser to open, even without NO_BROWSER=1.
HEADLESS := $(if $(NO_BROWSER)$(filter --no-browser,$(JUPYTER_ARGS)),1,$(if $(DISPLAY)$(WAYLAND_DISPLAY),,1))
lessons: setup
	$(VENV)/bin/jupyter lab --notebook-dir=lessons $(if $(HEADLESS),--no-browser) \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(filter-out --no-browser,$(JUPYTER_ARGS))

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; \
	else echo "The tests need these Debian/Ubuntu packages:$$missing"; \
	     echo "Install them with:  sudo apt-get install$$missing   (then run make test again)"; exit 1; fi; \
	echo "Installing system packages:$$missing"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq$$missing

test: setup system-packages
	$(PY) -m pytest $(PYTEST_ARGS) --nbval-lax --nbval-current-env tests lessons

# Unit tests only: no simulator, no browser, no notebooks.
test-fast: setup
	$(PY) -m pytest -m "not firmware and not browser" tests

benchmarks: setup system-packages
	$(PY) benchmarks/race.py
	$(PY) benchmarks/flash.py
	$(PY) benchmarks/widgets.py

clean:
	rm -rf $(VENV) hardware/build .pytest_cache
