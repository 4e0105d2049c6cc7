# Two set-up-and-go targets for a fresh machine (README):
#   make run   installs hebbsim and runs the main job on the embedded data set
#   make test  installs hebbsim with its test extra and runs the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test venv

$(PY):
	"$$(tools/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

venv: $(PY)

run: $(PY)
	$(PY) -m pip install --quiet -e .
	$(VENV)/bin/hebbsim run --out runs/default

test: $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pytest
