# The breast-cancer KD study. `make help` lists the targets.
#   make reproduce   run the whole study (creates .venv from requirements.txt if missing)
#   make test        run the tests (same setup)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SECONDEXPANSION:
.DEFAULT_GOAL := help
# Executed notebooks are targets in their own right, never intermediates to delete.
.PRECIOUS: outputs/%.ipynb

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := kdstudy

# Keras 2 for tensorflow-model-optimization; deterministic CPU kernels; quiet TensorFlow C++ logs.
export TF_USE_LEGACY_KERAS := 1
export TF_ENABLE_ONEDNN_OPTS := 0
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
# Where PBCNT lives (README: Data). Without the file the pbcnt runs are skipped.
PBCNT_CSV ?= data/GSE58606_data.csv
export PBCNT_CSV

# Cell outputs (one progress line per split) are echoed while a notebook runs; PM_LOG= silences them.
PM_LOG ?= --log-output
RUNS := wdbc bcd wdbc-paper
FAST_RUNS := wdbc-fast bcd-fast wdbc-paper-fast
ifneq ($(wildcard $(PBCNT_CSV)),)
RUNS += pbcnt
FAST_RUNS += pbcnt-fast
PBCNT_NOTE :=
else
PBCNT_NOTE := echo "pbcnt skipped: no file at PBCNT_CSV=$(PBCNT_CSV); get GSE58606 (README: Data) and run 'make reproduce PBCNT_CSV=/path/to/GSE58606_data.csv'"
endif

# The study's notebooks, in order; each run executes all of them.
NOTEBOOKS := 01_data_exploration 02_teacher 03_distillation 04_pruning 05_quantization 06_tflite_export 07_pi_measurements
LIB := $(wildcard lib/*.py)
# NB_LIB_<notebook>: the lib modules a notebook imports, directly or not (lib/deps.py; stdlib only, so the
# system python3 can run it before .venv exists). A notebook re-runs only when one of its modules changes.
-include .deps.mk
.deps.mk: $(wildcard notebooks/*.ipynb) $(LIB)
	@$(PYTHON) -m lib.deps > $@.tmp && mv -f $@.tmp $@
# The notebook a stage reads artefacts from (splits, models): it must run first.
after_01_data_exploration :=
after_02_teacher := 01_data_exploration
after_03_distillation := 02_teacher
after_04_pruning := 03_distillation
after_05_quantization := 04_pruning
after_06_tflite_export := 05_quantization
after_07_pi_measurements := 06_tflite_export

# params/<run>.yaml and the files it extends.
params_of = params/$(1).yaml $(foreach b,$(shell sed -n 's/^extends: *//p' params/$(1).yaml 2>/dev/null),$(call params_of,$(b)))
run_of = $(patsubst %/,%,$(dir $(1)))
# Each notebook's output depends on the upstream notebook's output of the same run (explicit rules, so any
# single output can be asked for and make runs what it needs first).
ALL_RUNS := $(basename $(notdir $(wildcard params/*.yaml)))
$(foreach r,$(ALL_RUNS),$(foreach nb,$(NOTEBOOKS),$(if $(after_$(nb)),$(eval outputs/$(r)/$(nb).ipynb: outputs/$(r)/$(after_$(nb)).ipynb))))
run_outputs = $(foreach nb,$(NOTEBOOKS),outputs/$(1)/$(nb).ipynb)

.PHONY: help venv reproduce reproduce-fast test test-full lab report clean clean-venv check-params
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort | column -t -s $$'\t'

venv: $(STAMP) ## create .venv from requirements.txt and register the 'kdstudy' Jupyter kernel
$(STAMP): requirements.txt
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements.txt
	$(VPY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'kdstudy.pth').write_text('$(CURDIR)\n')"
	$(VPY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "KD study (.venv)" \
	  --env TF_USE_LEGACY_KERAS 1 --env TF_ENABLE_ONEDNN_OPTS 0 --env TF_CPP_MIN_LOG_LEVEL 2 --env PYTHONHASHSEED 0
	touch $@

reproduce: $(STAMP) ## run the whole study: every notebook for every run, then gather results
	@$(PBCNT_NOTE)
	$(MAKE) --no-print-directory $(foreach r,$(RUNS),$(call run_outputs,$(r)) outputs/$(r)/results.csv)

reproduce-fast: $(STAMP) ## the same with the fast profile (minutes; what CI checks)
	@$(PBCNT_NOTE)
	$(MAKE) --no-print-directory $(foreach r,$(FAST_RUNS),$(call run_outputs,$(r)) outputs/$(r)/results.csv)

# One pattern rule executes notebook NN for a run. papermill writes to a temporary name, which is moved into
# place only on success: a failed notebook never looks up to date (the partial one is kept as .failed.ipynb).
outputs/%.ipynb: notebooks/$$(notdir $$*).ipynb $$(call params_of,$$(call run_of,$$*)) $$(NB_LIB_$$(notdir $$*)) | $(STAMP)
	@mkdir -p $(@D)
	@echo ">> $(notdir $*) for run $(call run_of,$*)"
	@rm -f $@.failed.ipynb
	@$(VPY) -m papermill $< $@.tmp.ipynb -k $(KERNEL) --cwd $(CURDIR) --no-progress-bar $(PM_LOG) \
	  -f params/$(call run_of,$*).yaml -p run $(call run_of,$*) 2> >(grep -v 'Passed unknown parameter' >&2) \
	  || { mv -f $@.tmp.ipynb $@.failed.ipynb 2>/dev/null; echo "!! $@ failed: see $@.failed.ipynb"; exit 1; }
	@mv -f $@.tmp.ipynb $@

outputs/%/results.csv: $$(call run_outputs,$$*)
	$(VPY) -m lib.results gather $*

# nbval re-executes the committed notebooks of these runs (in order, in a scratch outputs tree) and compares
# every NBVAL_CHECK_OUTPUT cell. The full runs' later notebooks take long: `make test-full` checks them too.
executed = $(filter-out %.tmp.ipynb %.failed.ipynb,$(sort $(wildcard outputs/$(1)/[0-9]*.ipynb)))
NBVAL_FAST := $(foreach r,$(FAST_RUNS),$(call executed,$(r))) $(foreach r,$(RUNS),$(filter %/01_data_exploration.ipynb,$(call executed,$(r))))
NBVAL_FULL := $(foreach r,$(RUNS) $(FAST_RUNS),$(call executed,$(r)))
NBVAL_ARGS := -p no:cacheprovider -p tests.nbval_plugin --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

# Unit tests (two workers), then nbval of the committed outputs: each run's notebooks re-executed in order in
# one process, in a scratch outputs tree, every NBVAL_CHECK_OUTPUT cell compared.
test: $(STAMP) ## run the tests: unit tests, notebooks (fast profile), nbval of the committed outputs
	$(VPY) -m pytest -n 2 -p no:cacheprovider tests
	scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	  KDSTUDY_OUTPUTS=$$scratch $(VPY) -m pytest -p no:xdist $(NBVAL_ARGS) $(NBVAL_FAST)

test-full: $(STAMP) ## nbval of every committed notebook, full runs included (slow)
	scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	  KDSTUDY_OUTPUTS=$$scratch $(VPY) -m pytest -p no:xdist $(NBVAL_ARGS) $(NBVAL_FULL)

check-params: $(STAMP) ## validate every params/*.yaml
	$(VPY) -m lib.params

lab: $(STAMP) ## open the notebooks in JupyterLab on the study's kernel
	$(VENV)/bin/jupyter lab --notebook-dir=$(CURDIR)

clean: ## remove generated outputs (keeps .venv)
	rm -rf outputs/*/ outputs/summary.* .pytest_cache

clean-venv: ## remove .venv
	rm -rf $(VENV)
