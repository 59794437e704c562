# Registry Janitor: `make demo` to try it, `make test` before every commit.
#
# Everything runs from a virtualenv in the checkout (.venv), installed from the lock
# (requirements-dev.txt; `make lock` writes it from pyproject.toml). `make install` also
# needs Debian packages: docker-registry and redis-server (the tests and the demo
# start their own processes from these binaries), chromium (the browser tests) and
# python3-venv.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON := .venv/bin/python
APP_LOCK := requirements.txt
DEV_LOCK := requirements-dev.txt
SYSTEM_PYTHON ?= python3
INSTALL_STAMP := .venv/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=
LOCK_ARGS ?=
DEMO_ARGS ?=

.PHONY: help install system-packages lock demo test test-only lint format bench screenshots clean

help:
	@echo "make install    system packages (as root), .venv from the lock, the project in it"
	@echo "make lock       rewrite the locks from pyproject.toml (LOCK_ARGS=--upgrade to bump)"
	@echo "make demo       registry, Redis, worker, beat + dashboard on http://127.0.0.1:8000"
	@echo "                (DEMO_ARGS='--registry-port 5002 --addrport 127.0.0.1:8001 ...')"
	@echo "make test       ruff, then pytest -n auto (PYTEST_ARGS='...' to pass more)"
	@echo "make test-only  pytest only"
	@echo "make bench      python -m bench (BENCH_ARGS='...')"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make clean      remove var/ and .venv"

install: system-packages $(INSTALL_STAMP)

# Checked on every run (it is quick); apt-get only runs when something is missing.
system-packages:
	@missing=""; \
	command -v docker-registry >/dev/null 2>&1 || missing="$$missing docker-registry"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ ! -x $(PYTHON) ] && ! $(SYSTEM_PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
		missing="$$missing python3-venv"; \
	fi; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "Missing Debian packages:$$missing" >&2; \
		echo "Install them with:  sudo apt-get install -y$$missing" >&2; \
		exit 1; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	if ! apt-cache show $$missing >/dev/null 2>&1; then apt-get update; fi; \
	apt-get install -y --no-install-recommends $$missing \
		|| { apt-get update && apt-get install -y --no-install-recommends $$missing; }; \
	case "$$missing" in *docker-registry*) \
		echo "Stopping the docker-registry system service: nothing here uses it."; \
		if [ -d /run/systemd/system ]; then \
			systemctl disable --now docker-registry.service >/dev/null 2>&1 || true; \
		else \
			/etc/init.d/docker-registry stop >/dev/null 2>&1 || true; \
		fi;; \
	esac

# Redone when pyproject.toml or a lock changes, so a second `make install` does nothing.
# The lock holds every package, pip included; the project itself goes in without deps.
$(INSTALL_STAMP): pyproject.toml $(APP_LOCK) $(DEV_LOCK) | system-packages
	@if [ ! -x $(PYTHON) ]; then \
		$(SYSTEM_PYTHON) -m venv .venv || { rm -rf .venv; exit 1; }; \
	fi
	$(PYTHON) -m pip install --disable-pip-version-check -r $(DEV_LOCK)
	$(PYTHON) -m pip install --disable-pip-version-check --no-deps -e .
	@touch $@

# Python 3.11, as in the image. The app lock goes first and constrains the dev lock,
# so the two pin the same versions. No index or find-links lines: those belong to the
# machine, not the project.
PIP_COMPILE := .venv/bin/pip-compile --quiet --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

lock: install
	$(PIP_COMPILE) --output-file=$(APP_LOCK) pyproject.toml
	$(PIP_COMPILE) --extra=test --extra=dev --constraint=$(APP_LOCK) \
		--output-file=$(DEV_LOCK) pyproject.toml

# Every process the demo starts is its child; Ctrl-C stops them all.
demo: install
	DEBUG=1 $(PYTHON) manage.py demo $(DEMO_ARGS)

lint: install
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy .

format: install
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

# The suite starts its own docker-registry and redis-server processes on free ports.
test: lint
	$(PYTHON) -m pytest -n auto $(PYTEST_ARGS)

test-only: install
	$(PYTHON) -m pytest -n auto $(PYTEST_ARGS)

# Refreshes the README's pictures in docs/ from the browser tests.
screenshots: install
	SAVE_SCREENSHOTS=1 $(PYTHON) -m pytest tests/e2e -p no:randomly -q

bench: install
	$(PYTHON) -m bench $(BENCH_ARGS)

clean:
	rm -rf var .venv
