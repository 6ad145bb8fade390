# Two entry points, both self-contained on a machine with only Python 3.11 + pip + venv:
#   make demo   create .venv if missing, install speechseq, run the demo recipe
#   make test   create/update the same .venv, run the test suite
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	cd recipes/synth_digits && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ./run.sh

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2

clean:
	rm -rf $(VENV) recipes/*/data recipes/*/exp
