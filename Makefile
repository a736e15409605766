# seqlift developer entry points. Every target creates .venv on first use (the whole set-up).
#   make test       the fast suite: everything but the end-to-end workflow runs (`slow`)
#   make test-all   every test, with the 15 slowest listed (CI)
#   make lint       ruff, snakefmt, snakemake --lint
#   make demo       the workflow on the bundled demo, with its HTML report
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU torch for the dev/CI path only; the package itself accepts any torch 2.x (bring your CUDA build).
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed
# The motifs stage's TF-MoDISco, as pinned in pyproject.toml's workflow extra. bpnet-lite (a test
# peer) pulls the package `modisco` 2.5.2, which writes the same `modiscolite/` folder, so the
# install puts modisco-lite's files back last, whatever pip's order.
MODISCO_PIN ?= modisco-lite==3.0.0

.PHONY: test test-all demo lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_PIN)
	$(BIN)/pip install --quiet -e '.[test,workflow]'
	$(BIN)/pip install --quiet --force-reinstall --no-deps $(MODISCO_PIN)
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

test-all: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15 tests

lint: $(STAMP)
	$(BIN)/ruff check lib tests workflow benchmarks
	cd . && $(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --configfile config/demo.yaml

clean:
	rm -rf $(VENV) results .snakemake

# The demo: synthetic genome and trained CNN (committed; regenerated when missing), the whole
# workflow with config/demo.yaml on 2 cores, then the one-file HTML report.
demo: $(STAMP)
	test -f demo/data/genome.fa || $(BIN)/python demo/make_genome.py
	test -f demo/model.pt || $(BIN)/python demo/train_model.py
	@start=$$(date +%s); \
	$(BIN)/snakemake --cores 2 --configfile config/demo.yaml && \
	$(BIN)/snakemake --cores 2 --configfile config/demo.yaml --report results/demo/report.html && \
	echo "Demo finished in $$(( $$(date +%s) - start )) s." && \
	echo "Results: $(CURDIR)/results/demo/ (attributions.zarr, qc/, plots/, exports/)" && \
	echo "Report:  $(CURDIR)/results/demo/report.html"

# Real single-node SLURM (root + apt-get; see tests/cluster/run_cluster_test.sh). Not part of `make test`.
.PHONY: test-cluster
test-cluster: $(STAMP)
	$(BIN)/pip install --quiet -e '.[cluster]'
	PYTHON=$(abspath $(BIN))/python tests/cluster/run_cluster_test.sh
