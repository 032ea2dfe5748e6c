# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export HF_HUB_OFFLINE ?= 1
export FIFTYONE_DO_NOT_TRACK ?= true

.PHONY: demo test install clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install only when the dependency declarations change.
$(STAMP): $(PY) pyproject.toml requirements/pinned.txt
	$(PY) -m pip install --quiet -r requirements/pinned.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Evaluate the reference CCA model under protocol web2sky-v1 on web2sky-synth mini
# (generated on first use) and render the leaderboard ($WEB2SKY_HOME/leaderboard).
demo: $(STAMP)
	$(VENV)/bin/web2sky-bench evaluate --model cca
	$(VENV)/bin/web2sky-bench leaderboard render

test: $(STAMP)
	$(PY) -m pytest -q

clean-venv:
	rm -rf $(VENV)
