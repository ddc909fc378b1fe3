# swan-ml-ext: two commands for a newcomer (see README):
#   make demo   build, start the personal HTCondor pool, open JupyterLab with the extension
#   make test   install everything, lint, and run every test (what CI runs)
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
DEMO_DIR ?= $(CURDIR)/demo
DEMO_PORT ?= 8888
# Build tools and the versions seen working together (notes: labext-build-and-ui-tests.md).
BUILD_TOOLS := "jupyterlab==4.6.6" "jupyter_server==2.21.1" "hatchling>=1.33" \
	"hatch-jupyter-builder==0.10.0" "hatch-nodejs-version==0.4.0" editables "jupyter-builder>=1.3" \
	setuptools wheel

.PHONY: demo test deps system venv js build install pool lint pytest bench clean

demo: install pool
	$(PY) -m swan_ml_ext.demo --dir "$(DEMO_DIR)" --port $(DEMO_PORT)

test: install pool lint ui-tests/node_modules/.yarn-state.yml
	bash .ci/tests.sh

deps: system install

# Debian packages: debootstrap builds the pool's chroot; chromium drives the UI tests; Java 17
# runs Spark (pyspark's JVM). No stamp: the binaries are checked every time (cheap), so a fresh
# machine always gets them.
system:
	@if ! command -v debootstrap >/dev/null || ! test -x /usr/bin/chromium \
	    || ! test -x /usr/lib/jvm/java-17-openjdk-$$(dpkg --print-architecture)/bin/java; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    debootstrap chromium openjdk-17-jre-headless >/dev/null; \
	fi

venv: $(VENV)/.deps
$(VENV)/.deps: pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(BUILD_TOOLS)
	@touch $@

js: node_modules/.yarn-state.yml
node_modules/.yarn-state.yml: package.json yarn.lock $(VENV)/.deps
	jlpm install --immutable
	@touch $@

ui-tests/node_modules/.yarn-state.yml: ui-tests/package.json ui-tests/yarn.lock $(VENV)/.deps
	cd ui-tests && jlpm install --immutable
	@touch $@

build: swan_ml_ext/labextension/package.json
swan_ml_ext/labextension/package.json: node_modules/.yarn-state.yml $(shell find src schema style -type f 2>/dev/null) tsconfig.json
	jlpm build

install: $(VENV)/.installed
$(VENV)/.installed: $(VENV)/.deps swan_ml_ext/labextension/package.json
	$(PY) -m pip install -q --no-build-isolation -e ".[test,kubeflow,spark]"
	jupyter labextension develop --overwrite . >/dev/null
	jupyter server extension enable --sys-prefix swan_ml_ext >/dev/null
	@touch $@

pool: system install
	@test "$$(id -u)" = 0 || { echo "the personal pool needs root (chroot, mounts)"; exit 2; }
	swan-ml pool up

lint: install node_modules/.yarn-state.yml
	ruff check swan_ml_ext tests bench
	ruff format --check swan_ml_ext tests bench
	jlpm lint:check

bench: install pool ui-tests/node_modules/.yarn-state.yml
	$(PY) bench/run_all.py
	cd ui-tests && jlpm playwright test --config bench.config.js

clean:
	rm -rf .make lib tsconfig.tsbuildinfo swan_ml_ext/labextension node_modules $(VENV)
