# penpost — set-up and everyday commands. Each target does its own set-up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
OUT ?= out/demo
DEB_PACKAGES := tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng poppler-utils chromium

.PHONY: demo test bench lint venv dev debs clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.created
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	touch $@

$(VENV)/.bench: pyproject.toml $(VENV)/.dev
	$(PIP) install --quiet -e '.[dev,bench]'
	touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.dev

# Debian packages the tests need (OCR, PDF rasterising, a browser for the page tests);
# installed only when missing.
debs:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(VENV)/.installed
	$(VENV)/bin/penpost demo --out $(OUT)

test: $(VENV)/.dev debs
	$(VENV)/bin/pytest -q

bench: $(VENV)/.bench debs
	$(PY) -m tests.bench

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) out build *.egg-info
