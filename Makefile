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
# One TensorFlow thread per process (lib/__init__.py sets the same default): the numbers do not depend on the
# machine's core count, and parallelism comes from make -j and KD_WORKERS instead.
ifeq ($(strip $(TF_NUM_INTRAOP_THREADS)),)
TF_NUM_INTRAOP_THREADS := 1
endif
ifeq ($(strip $(TF_NUM_INTEROP_THREADS)),)
TF_NUM_INTEROP_THREADS := 1
endif
export TF_NUM_INTRAOP_THREADS TF_NUM_INTEROP_THREADS
# Where PBCNT lives (README: Data). Without the file the pbcnt runs are skipped.
PBCNT_CSV ?= data/GSE58606_data.csv
export PBCNT_CSV

# Cell outputs (one progress line per split) are echoed while a notebook runs; PM_LOG= silences them.
PM_LOG ?= --log-output

# The study's notebooks, in order; each run executes all of them.
NOTEBOOKS := 01_data_exploration 02_teacher 03_distillation 04_pruning 05_quantization 06_tflite_export 06b_seed_replicates 07_pi_measurements
# The cross-dataset runs (train on WDBC, test on all of BCD) execute one notebook of their own.
TRANSFER_NB := 03b_cross_dataset
# Notebook 08 reads every run's results and writes outputs/summary.{csv,md} (fast profile: summary-fast).
SUMMARY_NB := 08_statistics
LIB := $(wildcard lib/*.py lib/*/*.py)
# NB_LIB_<notebook>: the lib modules a notebook imports, directly or not; PARAMS_<run>: its params file and those
# it extends (lib/tools/deps.py; stdlib only, so the system python3 can run it before .venv exists). A notebook re-runs
# only when one of its modules or params files changes.
-include .deps.mk
.deps.mk: $(wildcard notebooks/*.ipynb) $(LIB) $(wildcard params/*.yaml)
	@$(PYTHON) -m lib.tools.deps > $@.tmp && mv -f $@.tmp $@

# The runs are discovered from params/*.yaml (.deps.mk's RUN_KINDS_<kind>, lib/tools/deps.py): the study's runs
# (one summary across them, outputs/summary/), a user's 'dataset: table' runs (a summary and model card each,
# outputs/summary-<run>/) and the cross-dataset runs (notebook 03b); a name ending in -fast is the fast profile.
# `make run RUN=<name>` runs one. A run whose data file (data_path; PBCNT_CSV for PBCNT) is absent is skipped with
# a note.
data_of = $(if $(filter pbcnt,$(DATASET_$(1))),$(PBCNT_CSV),$(DATA_$(1)))
present = $(foreach r,$(1),$(if $(call data_of,$(r)),$(if $(wildcard $(call data_of,$(r))),$(r)),$(r)))
absent = $(filter-out $(call present,$(1)),$(1))
STUDY_RUNS := $(call present,$(RUN_KINDS_study))
STUDY_FAST_RUNS := $(call present,$(RUN_KINDS_study_fast))
TABLE_RUNS := $(call present,$(RUN_KINDS_table))
TABLE_FAST_RUNS := $(call present,$(RUN_KINDS_table_fast))
RUNS := $(STUDY_RUNS) $(TABLE_RUNS)
FAST_RUNS := $(STUDY_FAST_RUNS) $(TABLE_FAST_RUNS)
TRANSFER_RUNS := $(RUN_KINDS_transfer)
TRANSFER_FAST_RUNS := $(RUN_KINDS_transfer_fast)
skip_note = $(foreach r,$(call absent,$(1)),echo "$(r) skipped: no data file at $(call data_of,$(r))$(if $(filter pbcnt,$(DATASET_$(r))), (PBCNT_CSV; get GSE58606 as README: Data says, then 'make reproduce PBCNT_CSV=/path/to/GSE58606_data.csv'), (data_path in params/$(r).yaml))";)
# The notebooks a stage reads artefacts from (splits, models, results_NN.csv): they must run first. Only real
# reads: 04 prunes notebook 02's teacher, so it runs beside 03 under -j2; 05 quantizes the teacher and SM.
after_01_data_exploration :=
after_02_teacher := 01_data_exploration
after_03_distillation := 02_teacher
after_04_pruning := 02_teacher
after_05_quantization := 03_distillation
after_06_tflite_export := 04_pruning 05_quantization
after_06b_seed_replicates := 06_tflite_export
after_07_pi_measurements := 06_tflite_export

# params/<run>.yaml and the files it extends (PARAMS_<run> in .deps.mk, read by lib/tools/deps.py); every params file
# if .deps.mk could not be made (a run then re-runs more often than needed, never less).
params_of = $(or $(PARAMS_$(1)),$(wildcard params/*.yaml))
run_of = $(patsubst %/,%,$(dir $(1)))
# Each notebook's output depends on the upstream notebook's output of the same run (explicit rules, so any
# single output can be asked for and make runs what it needs first).
ALL_RUNS := $(basename $(notdir $(wildcard params/*.yaml)))
$(foreach r,$(ALL_RUNS),$(foreach nb,$(NOTEBOOKS),$(if $(after_$(nb)),$(eval outputs/$(r)/$(nb).ipynb: $(foreach u,$(after_$(nb)),outputs/$(r)/$(u).ipynb)))))
# A run's data file (when its params name one) is a prerequisite of its first notebook: a changed table re-runs it.
space := $(subst ,, )
$(foreach r,$(ALL_RUNS),$(eval outputs/$(r)/01_data_exploration.ipynb: $(subst $(space),\$(space),$(wildcard $(call data_of,$(r))))))
run_outputs = $(foreach nb,$(NOTEBOOKS),outputs/$(1)/$(nb).ipynb)

.PHONY: help venv reproduce reproduce-fast run test test-full lab report clean clean-results clean-venv check-params bench pi-check
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

# The cross-dataset notebook is named first: it is the longest single notebook, so under -j it starts at once
# instead of last (longest job first).
# every output of a list of runs: notebooks 01-07 and results.csv (03b for a cross-dataset run), and the summary
# of each user's table run
all_of = $(foreach r,$(1),$(if $(filter $(r),$(RUN_KINDS_transfer) $(RUN_KINDS_transfer_fast)),outputs/$(r)/$(TRANSFER_NB).ipynb,\
  $(call run_outputs,$(r)) outputs/$(r)/results.csv $(if $(filter $(r),$(RUN_KINDS_table) $(RUN_KINDS_table_fast)),outputs/summary-$(r)/$(SUMMARY_NB).ipynb)))
reproduce: $(STAMP) ## run the whole study: every run of params/ (its notebooks), the cross-dataset runs, then 08
	@$(call skip_note,$(RUN_KINDS_study) $(RUN_KINDS_table))
	$(MAKE) --no-print-directory $(call all_of,$(TRANSFER_RUNS) $(RUNS)) \
	  $(if $(filter $(RUN_KINDS_study),$(RUNS)),outputs/summary/$(SUMMARY_NB).ipynb)

reproduce-fast: $(STAMP) ## the same with the fast profile (minutes; what CI checks)
	@$(call skip_note,$(RUN_KINDS_study_fast) $(RUN_KINDS_table_fast))
	$(MAKE) --no-print-directory $(call all_of,$(TRANSFER_FAST_RUNS) $(FAST_RUNS)) \
	  $(if $(filter $(RUN_KINDS_study_fast),$(FAST_RUNS)),outputs/summary-fast/$(SUMMARY_NB).ipynb)

# One run end to end: its notebooks 01-07 and its own summary and model card (08 on that run alone, under
# outputs/summary-<run>/); a cross-dataset run executes 03b.
run: $(STAMP) ## one run end to end, summary and model card included: make run RUN=<name of params/<name>.yaml>
	@test -n "$(RUN)" || { echo "make run: name the run, e.g. make run RUN=wdbc-fast (one of: $(ALL_RUNS))"; exit 2; }
	@test -f params/$(RUN_NAME).yaml || { echo "make run: no params/$(RUN_NAME).yaml (runs: $(ALL_RUNS))"; exit 2; }
	@$(VPY) -m lib.analysis.runs $(RUN_NAME) >/dev/null
	$(MAKE) --no-print-directory $(call all_of,$(RUN_NAME)) \
	  $(if $(filter $(RUN_NAME),$(RUN_KINDS_transfer) $(RUN_KINDS_transfer_fast) $(RUN_KINDS_table) $(RUN_KINDS_table_fast)),,outputs/summary-$(RUN_NAME)/$(SUMMARY_NB).ipynb)
	@$(if $(filter $(RUN_NAME),$(RUN_KINDS_transfer) $(RUN_KINDS_transfer_fast)),echo ">> $(RUN_NAME): outputs/$(RUN_NAME)/$(TRANSFER_NB).ipynb",\
	  echo ">> $(RUN_NAME): summary outputs/summary-$(RUN_NAME)/summary.md, model card outputs/summary-$(RUN_NAME)/model_card.md")
RUN_NAME = $(basename $(notdir $(RUN)))

# One pattern rule executes notebook NN for a run. papermill writes to a temporary name, which is moved into
# place only on success: a failed notebook never looks up to date (the partial one is kept as .failed.ipynb).
# $(call papermill,<notebook>,<papermill parameter options>) is that recipe.
define papermill
	@mkdir -p $(@D)
	@rm -f $@.failed.ipynb
	@$(VPY) -m lib.tools.execute $(1) $@.tmp.ipynb -k $(KERNEL) --cwd $(CURDIR) --no-progress-bar $(PM_LOG) \
	  $(2) 2> >(grep -v 'Passed unknown parameter' >&2) \
	  || { mv -f $@.tmp.ipynb $@.failed.ipynb 2>/dev/null; echo "!! $@ failed: see $@.failed.ipynb"; exit 1; }
	@mv -f $@.tmp.ipynb $@
endef
outputs/%.ipynb: notebooks/$$(notdir $$*).ipynb $$(call params_of,$$(call run_of,$$*)) $$(NB_LIB_$$(notdir $$*)) | $(STAMP)
	@echo ">> $(notdir $*) for run $(call run_of,$*)"
	$(call papermill,$<,-f params/$(call run_of,$*).yaml -p run $(call run_of,$*))

# Notebook 08 across runs: the full profile reads the full runs, the fast profile the -fast ones (lib/analysis/tables.py
# lists them); it needs every run's results, latency (06) and Pi import (07), and the cross-dataset run.
summary_inputs = $(foreach r,$(1),outputs/$(r)/results.csv outputs/$(r)/07_pi_measurements.ipynb)
# ... and the report's templates and pre-specified decisions (lib/analysis/claims.py).
REPORT_INPUTS := $(wildcard lib/analysis/templates/*.j2) params/report/decisions.yaml
outputs/summary/$(SUMMARY_NB).ipynb: notebooks/$(SUMMARY_NB).ipynb $$(NB_LIB_$(SUMMARY_NB)) $(REPORT_INPUTS) \
  $(call summary_inputs,$(STUDY_RUNS)) $(foreach r,$(TRANSFER_RUNS),outputs/$(r)/$(TRANSFER_NB).ipynb) | $(STAMP)
	@echo ">> $(SUMMARY_NB) (full profile)"
	$(call papermill,$<,-p profile full)
outputs/summary-fast/$(SUMMARY_NB).ipynb: notebooks/$(SUMMARY_NB).ipynb $$(NB_LIB_$(SUMMARY_NB)) $(REPORT_INPUTS) \
  $(call summary_inputs,$(STUDY_FAST_RUNS)) $(foreach r,$(TRANSFER_FAST_RUNS),outputs/$(r)/$(TRANSFER_NB).ipynb) | $(STAMP)
	@echo ">> $(SUMMARY_NB) (fast profile)"
	$(call papermill,$<,-p profile fast)
# 08 on one run alone (a user's table run, or any run under make run): its summary and model card.
outputs/summary-%/$(SUMMARY_NB).ipynb: notebooks/$(SUMMARY_NB).ipynb $$(NB_LIB_$(SUMMARY_NB)) $(REPORT_INPUTS) \
  $$(call summary_inputs,$$*) | $(STAMP)
	@echo ">> $(SUMMARY_NB) for run $*"
	$(call papermill,$<,-p profile $*)

outputs/%/results.csv: $$(call run_outputs,$$*)
	$(VPY) -m lib.core.results gather $*

# make test re-executes the committed fast-profile notebooks (and the full runs' 01) in a scratch outputs tree,
# as another machine would: under a stand-in for another CPU (STANDIN, below), which perturbs the floats of
# trained models by about as much as a different CPU does. Then:
#  1. nbval compares every NBVAL_CHECK_OUTPUT cell: text word for word, numbers within the profile's text
#     tolerance (tests/tolerances.yaml); notebooks whose optional data are absent (PBCNT, the authors' Pi logs)
#     are left out with one line that says so (tests/nbval_plugin.py, lib/core/optional.py);
#  2. lib.tools.recheck compares every CSV, splits.json and the generated markdown of the scratch tree with the
#     committed ones: numbers within a tolerance per column (metric) and profile, text and verdicts exactly;
#  3. the chain of BITWISE_RUN is executed once more in the same environment and must be byte-identical to the
#     first execution (apart from recorded times): same machine, same environment, same numbers.
executed = $(filter-out %.tmp.ipynb %.failed.ipynb,$(sort $(wildcard outputs/$(1)/[0-9]*.ipynb)))
ALL_FAST := $(RUN_KINDS_study_fast)
ALL_FULL := $(RUN_KINDS_study)
# The cross-dataset run and 08 come last: 08 reads what the others wrote into the scratch tree.
NBVAL_FAST := $(foreach r,$(ALL_FAST),$(call executed,$(r))) $(foreach r,$(ALL_FULL),$(filter %/01_data_exploration.ipynb,$(call executed,$(r)))) \
  $(foreach r,$(RUN_KINDS_transfer_fast),$(call executed,$(r))) $(call executed,summary-fast)
NBVAL_FULL := $(foreach r,$(ALL_FULL) $(ALL_FAST) $(RUN_KINDS_transfer) $(RUN_KINDS_transfer_fast),$(call executed,$(r))) \
  $(call executed,summary) $(call executed,summary-fast)
# nbval's own limit per cell is 2000 s; notebook 06b's training cell of a full run takes 19-30 min alone on 2 cores,
# and longer beside another nbval process under the stand-in, so make test-full allows 4 h per cell (a hung cell still fails).
NBVAL_CELL_TIMEOUT ?= 14400
NBVAL_ARGS := -p no:cacheprovider -p tests.nbval_plugin --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
  --nbval-cell-timeout=$(NBVAL_CELL_TIMEOUT)
# nbval runs in NBVAL_JOBS pytest processes side by side, each on whole runs in notebook order (a run's notebooks
# read what its earlier ones wrote; lib.tools.recheck buckets balances them by their recorded times); notebook 08 reads
# every run, so it runs afterwards on its own. A process whose notebooks were all left out (optional data absent)
# exits 5, which passes; a process that left no exit code fails. (pytest-xdist's loadgroup cannot keep a run
# together: pytest 9 ignores the node ids it rewrites.)
NBVAL_JOBS ?= 2
SUMMARY_NBS = $(filter outputs/summary/% outputs/summary-fast/%,$(NBVAL_FAST) $(NBVAL_FULL))
# The stand-in for another machine: TensorFlow's intra-op thread count set to 2 where the study uses 1 (above; 3
# if the study was told to use 2), which changes the order of floating-point sums in its kernels. Two nbval
# processes of 2 threads each are 4 threads on 2 cores: slower, the numbers unchanged (they depend on the thread
# count, not on scheduling). `make test STANDIN=` re-executes in the study's own environment instead.
STANDIN ?= TF_NUM_INTRAOP_THREADS=$(if $(filter 2,$(strip $(TF_NUM_INTRAOP_THREADS))),3,2)
# The run whose chain 01-07 is executed twice for the bit-identity check (the quickest fast run): first
# sequentially (nbval, above), then with every per-split map on a local Dask cluster of 2 workers (lib/core/parallel.py).
# Byte-identical outputs prove both the determinism and that the engine does not change a number.
BITWISE_RUN ?= wdbc-paper-fast
BITWISE_ENV ?= KD_BACKEND=dask KD_WORKERS=2

# Unit tests (two workers), then the re-execution checks above.
test: $(STAMP) ## run the tests: unit tests, then the committed fast-profile notebooks re-executed and checked
	$(VPY) -m pytest -n 2 --dist worksteal -p no:cacheprovider -rs tests
	$(call recheck,$(NBVAL_FAST))

test-full: $(STAMP) ## the same re-execution checks for every committed notebook, full runs included (slow)
	$(call recheck,$(NBVAL_FULL))

# $(call recheck,<notebooks>): nbval, results-level comparison and bit-identity in two scratch trees. Every
# check runs and reports; the recipe fails if any failed. The scratch trees are deleted afterwards, unless
# RECHECK_DIR names a folder to keep them in (re-execution kept there, the comparison can be run again:
# .venv/bin/python -m lib.tools.recheck compare outputs $(RECHECK_DIR)/a).
RECHECK_DIR ?=
define recheck
	@if [ -n "$(RECHECK_DIR)" ]; then scratch=$(RECHECK_DIR); mkdir -p $$scratch; else scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; fi; failed=; \
	echo ">> re-executing $(words $(1)) committed notebooks in $$scratch/a with $(or $(STANDIN),the study's own environment)"; \
	$(VPY) -m lib.tools.recheck buckets $(NBVAL_JOBS) $(filter-out $(SUMMARY_NBS),$(1)) > $$scratch/buckets; k=0; \
	while IFS= read -r nbs; do k=$$((k+1)); echo "   nbval process $$k: $$(wc -w <<< "$$nbs") notebooks"; \
	  { rc=0; env $(STANDIN) KDSTUDY_OUTPUTS=$$scratch/a $(VPY) -m pytest -p no:xdist $(NBVAL_ARGS) $$nbs 2>&1 || rc=$$?; \
	    echo $$rc > $$scratch/nbval$$k.rc; } | sed -u "s/^/[nbval $$k] /" & \
	done < $$scratch/buckets; wait; \
	for i in $$(seq 1 $$k); do rc=$$(cat $$scratch/nbval$$i.rc 2>/dev/null || echo missing); \
	  [ "$$rc" = 0 ] || [ "$$rc" = 5 ] || { echo "!! nbval process $$i: exit $$rc"; failed="$$failed nbval"; }; done; \
	$(if $(filter $(SUMMARY_NBS),$(1)),env $(STANDIN) KDSTUDY_OUTPUTS=$$scratch/a $(VPY) -m pytest -p no:xdist $(NBVAL_ARGS) $(filter $(SUMMARY_NBS),$(1)) || [ $$? = 5 ] || failed="$$failed nbval-08";) \
	echo ">> results: the re-executed CSVs and reports against the committed ones (tests/tolerances.yaml)"; \
	$(VPY) -m lib.tools.recheck gather $$scratch/a > /dev/null || failed="$$failed gather"; \
	$(VPY) -m lib.tools.recheck compare outputs $$scratch/a || failed="$$failed compare"; \
	echo ">> bit-identity: the chain of $(BITWISE_RUN) once more, same environment, $(or $(BITWISE_ENV),sequential)"; \
	if [ ! -d $$scratch/a/$(BITWISE_RUN) ]; then echo "!! $(BITWISE_RUN) was not re-executed"; failed="$$failed identity"; \
	elif env $(STANDIN) $(BITWISE_ENV) $(VPY) -m lib.tools.recheck chain $(BITWISE_RUN) $$scratch/b $$scratch/a > $$scratch/chain.log 2>&1; then \
	  $(VPY) -m lib.tools.recheck identical $$scratch/a $$scratch/b $(BITWISE_RUN) || failed="$$failed identity"; \
	else tail -40 $$scratch/chain.log; failed="$$failed identity"; fi; \
	if [ -n "$$failed" ]; then echo "!! re-execution checks failed:$$failed"; exit 1; fi; \
	echo ">> re-execution checks passed: nbval, results within tolerances, bit-identity of $(BITWISE_RUN)"
endef

# The benchmark (lib/tools/bench.py): executes every notebook of one full run (wdbc) and of the fast profile (pbcnt-fast
# only with PBCNT) in a scratch outputs tree and times it, and sets the teacher's measured time per epoch against
# its floor (FLOPs / measured matrix-product throughput). Writes outputs/bench/bench.{csv,md}.
# `make bench BENCH_ARGS=` reads the recorded times of outputs/ instead.
BENCH_ARGS ?= --execute
bench: $(STAMP) ## benchmark: each notebook of one full run (wdbc) and of the fast profile; the teacher against its floor
	$(VPY) -m lib.tools.bench $(BENCH_ARGS)

# The Pi bundle of a run (notebook 06) on the Pi's architecture: Debian bookworm arm64 + Python 3.11 under qemu user
# mode, outputs and accuracies compared with this host's (lib/tools/picheck.py; needs the Debian packages debootstrap and
# qemu-user-static; the root filesystem and wheels are cached in .cache/pi-arm64). Not part of make test (minutes).
PI_BUNDLE ?= outputs/wdbc/models/pi_bundle
pi-check: $(STAMP) ## run the Raspberry Pi bundle under aarch64 emulation and compare it with this host
	$(VPY) -m lib.tools.picheck --bundle $(PI_BUNDLE)

check-params: $(STAMP) ## validate every params/*.yaml
	$(VPY) -m lib.analysis.runs

# JupyterLab on the study's kernel. Its kernels write into a scratch copy of outputs/ (made on first use; LAB_OUTPUTS=
# outputs writes into the committed tree instead), and notebooks saved under notebooks/ lose their outputs
# (lib/tools/lab.py), so an interactive run leaves git status clean. As root (containers, CI) it adds --allow-root;
# LAB_ARGS= passes options, e.g. make lab LAB_ARGS="--no-browser --ip=0.0.0.0 --port=8888".
LAB_OUTPUTS ?= scratch/outputs
LAB_ARGS ?=
lab: $(STAMP) ## open the notebooks in JupyterLab (scratch outputs; LAB_ARGS= for options, LAB_OUTPUTS=outputs to write results)
	@if [ "$(LAB_OUTPUTS)" != outputs ] && [ ! -d "$(LAB_OUTPUTS)" ]; then mkdir -p "$(LAB_OUTPUTS)" && cp -a outputs/. "$(LAB_OUTPUTS)/" \
	  && echo ">> lab: kernels write into $(LAB_OUTPUTS) (a copy of outputs/; make lab LAB_OUTPUTS=outputs writes the committed tree)"; fi
	KDSTUDY_OUTPUTS=$(abspath $(LAB_OUTPUTS)) $(VENV)/bin/jupyter lab --notebook-dir=$(CURDIR) --config=lib/tools/lab.py \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The report: a Jupyter Book (config in report/, sources staged by lib/tools/book.py) of what outputs/ holds, built
# offline into outputs/report/; it never runs a notebook. Asked for together with reproduce
# (`make -j2 reproduce report`), it waits for it.
report: $(STAMP) $(filter reproduce reproduce-fast,$(MAKECMDGOALS)) ## build the report site (Jupyter Book: summary, model card, glossary, every executed notebook) into outputs/report/
	$(VPY) -m lib.tools.book

# make clean removes what is generated and not committed (trained models, the built report, papermill's leftovers,
# the lab's scratch tree, caches; a Pi's logs under outputs/<run>/pi_logs stay) and keeps the committed results; make clean-results removes those too (re-run everything
# with make reproduce; git checkout outputs restores them) and asks for CONFIRM=yes.
clean: ## remove what is generated and not committed (models, report, scratch, leftovers); keeps the results
	rm -rf outputs/*/models outputs/report scratch .pytest_cache
	find outputs \( -name '*.tmp.ipynb' -o -name '*.failed.ipynb' \) -delete

clean-results: ## delete every result under outputs/, committed ones included (asks for CONFIRM=yes)
	@test "$(CONFIRM)" = yes || { echo "make clean-results deletes the committed results under outputs/ (git checkout outputs restores them); run: make clean-results CONFIRM=yes"; exit 2; }
	rm -rf $(foreach r,$(ALL_RUNS),outputs/$(r)) outputs/summary outputs/summary-* outputs/summary.* outputs/model_card.md

clean-venv: ## remove .venv
	rm -rf $(VENV)

print-standin: # the stand-in environment of make test, STANDIN (tests/test_recheck.py reads it)
	@echo $(STANDIN)
