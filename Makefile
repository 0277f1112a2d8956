# polydub: `make demo` runs the main job, `make test` runs the tests.
# Both install what they need first (Debian packages + a project venv), once.

VENV    ?= .venv
PYTHON  ?= python3
APT_PKGS = ffmpeg espeak-ng apertium apertium-eng-spa apertium-eng-cat apertium-eo-en libsndfile1 chromium chromium-driver
STAMP   := $(VENV)/.polydub-installed

.PHONY: install system-deps demo test test-all bench clean

install: system-deps $(STAMP)

system-deps:
	@missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip "setuptools<81" wheel
	$(VENV)/bin/pip install -q -c constraints.txt -e ".[dev,studio]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/polydub demo demo

test: install
	$(VENV)/bin/python -m pytest -q

bench: install
	$(VENV)/bin/python bench/pipeline_speed.py

clean:
	rm -rf demo .pytest_cache
