# Flyte Actors. Every target sets up what it needs; running one twice does no work twice.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# flyteorg modules are not in the Go checksum database; go.sum pins them.
export GONOSUMDB := github.com/flyteorg

PYTHON ?= python3
VENV := .venv
VENV_STAMP := $(VENV)/.installed
BUF := go run github.com/bufbuild/buf/cmd/buf@v1.65.0
STATICCHECK := go run honnef.co/go/tools/cmd/staticcheck@v0.7.0
GO_PACKAGES := ./...
# Integration tests build a kube-apiserver and propeller: give them room.
INTEGRATION_TIMEOUT ?= 40m

.PHONY: help all venv venv-matrix generate build images lint test test-unit test-fuzz test-python test-integration chart-test fuzz chaos soak bench bench-e2e demo clean

## help: this list (the default target).
help:
	@awk '/^## [a-z-]+: / { name = $$2; sub(/:$$/, "", name); text = $$0; sub(/^## [a-z-]+: /, "", text); \
	  printf "  make %-17s %s\n", name, text }' $(MAKEFILE_LIST)

## all: generate, lint, build and test: what CI checks, on this machine.
all: generate lint build test

## venv: the Python virtualenv (.venv) with flytekit and this project's flytekit plugin.
venv: $(VENV_STAMP)
$(VENV_STAMP): python/requirements.lock python/pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r python/requirements.lock
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e python
	touch $@

## venv-matrix: a virtualenv per flytekit version the project is tested on, with flytekit alone.
# The oldest and the newest flytekit 1.x that work here (1.12 and older no longer import with today's
# dependencies). Each holds nothing of this project: the Python tests run against them from the
# source tree, and the integration tests use them as images with only flytekit, which get flyteactors
# from the executor.
FLYTEKIT_MATRIX ?= 1.13.0 1.16.31
FLYTEKIT_VENVS := $(foreach v,$(FLYTEKIT_MATRIX),.venv-flytekit/$(v)/.installed)
venv-matrix: $(FLYTEKIT_VENVS)
.venv-flytekit/%/.installed:
	test -x .venv-flytekit/$*/bin/python || $(PYTHON) -m venv .venv-flytekit/$*
	.venv-flytekit/$*/bin/pip install -q --disable-pip-version-check "flytekit==$*" pytest
	touch $@

## generate: protobuf code (go/), config flags. On a clean tree this changes nothing.
generate:
	rm -f go/executor/v1/*.pb.go
	cd executor-proto && $(BUF) generate
	go generate ./plugin/...
	# flytestdlib's pflags generator still writes reflect.PtrTo, deprecated since Go 1.22.
	sed -i 's/reflect\.PtrTo(/reflect.PointerTo(/g' plugin/config_flags_test.go
	gofmt -w go plugin

## build: the Go packages and the two binaries (bin/flytepropeller, bin/actor-executor).
build:
	go build $(GO_PACKAGES)
	go build -o bin/flytepropeller ./cmd/flytepropeller
	go build -o bin/actor-executor ./cmd/actor-executor

## images: the executor and FlytePropeller images (needs a Docker engine); IMAGE_PREFIX, IMAGE_TAG name them.
IMAGE_PREFIX ?= flyteactors
# The release (go/contract's Version; docs/release.md).
VERSION := $(shell sed -n 's/^const Version = "\(.*\)"$$/\1/p' go/contract/contract.go)
IMAGE_TAG ?= $(VERSION)
images:
	@docker info >/dev/null 2>&1 || { echo "make images needs a running Docker engine (docker info failed)"; exit 1; }
	docker build -f images/executor/Dockerfile -t $(IMAGE_PREFIX)/actor-executor:$(IMAGE_TAG) .
	docker build -f images/flytepropeller/Dockerfile -t $(IMAGE_PREFIX)/flytepropeller:$(IMAGE_TAG) .

## lint: gofmt, go vet and staticcheck on both modules, buf lint, ruff.
lint: venv
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.venv/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet $(GO_PACKAGES)
	$(STATICCHECK) $(GO_PACKAGES)
	cd tests && go vet ./...
	cd tests && $(STATICCHECK) ./...
	# The harness's addition to propeller builds only with this tag (tests/harness/propellerpatch).
	cd tests && go vet -tags harness_propeller ./harness/propellerpatch/
	cd tests && $(STATICCHECK) -tags harness_propeller ./harness/propellerpatch/
	cd executor-proto && $(BUF) lint
	$(VENV)/bin/ruff check python tests/workflows
	$(VENV)/bin/ruff format --check python tests/workflows

## test: every test: Go unit, short fuzz, Python, the chart's, and the integration tests on the real stack.
test: test-unit test-fuzz test-python chart-test test-integration

## test-unit: the Go unit tests of the product (race detector on); seconds once built.
test-unit:
	go test -race -count=1 $(GO_PACKAGES)

## fuzz: the fuzz tests, FUZZTIME (5m) each.
FUZZTIME ?= 5m
fuzz:
	go test -run '^$$' -fuzz '^FuzzParseEnvironment$$' -fuzztime $(FUZZTIME) ./plugin/
	go test -run '^$$' -fuzz '^FuzzSession$$' -fuzztime $(FUZZTIME) ./actorpool/executorsvc/

## test-fuzz: the fuzz tests for 10 s each, as CI runs them.
test-fuzz:
	$(MAKE) fuzz FUZZTIME=10s

## test-python: the Python tests (the flytekit plugin and the warm runtime), on every flytekit of the matrix.
test-python: venv venv-matrix
	$(VENV)/bin/python -m pytest -q python/tests
	for v in $(FLYTEKIT_MATRIX); do echo "== flytekit $$v"; \
	  HOME=$$(mktemp -d) PYTHONPATH=$(CURDIR)/python .venv-flytekit/$$v/bin/python -m pytest -q -p no:cacheprovider python/tests; done

## test-integration: the integration tests on the real stack; RUN=<regexp> runs only the tests it names.
RUN ?= .
test-integration: venv venv-matrix
	cd tests && go test -count=1 -timeout $(INTEGRATION_TIMEOUT) -run '$(RUN)' -v ./...

## chart-test: the Helm chart: lint, rendering, schema, its objects and RBAC on a real kube-apiserver.
# Helm's lint as `helm lint --strict` runs it, rendering with default and full values, the values schema, and
# the rendered objects and RBAC on a real kube-apiserver (tests/chart, Helm as a library). The integration
# test that runs propeller with the chart's configuration is TestChartConfigRunsActorWorkflow, part of
# test-integration.
chart-test:
	cd tests && go test -count=1 -timeout 10m -v ./chart/...

## chaos: 2,000 actor tasks while executors are killed and propeller restarts; prints the CHAOS line.
# CI runs TestChaos with 200 tasks. CHAOS_TASKS sets the size. The whole log (the stack's, every
# executor's) is kept in chaos.log, to trace a slow or failed run.
CHAOS_TASKS ?= 2000
chaos: venv
	set -o pipefail; cd tests && CHAOS_TASKS=$(CHAOS_TASKS) go test -count=1 -timeout 60m -run '^TestChaos$$' -v ./integration/ 2>&1 \
	  | tee ../chaos.log | grep -E '^(CHAOS|--- |ok|FAIL)'

## soak: SOAK_DURATION (10m) of steady load on the real stack, printing memory and goroutines every minute.
SOAK_DURATION ?= 10m
soak: venv
	cd tests && go run ./cmd/soak -duration $(SOAK_DURATION)

## bench: Go benchmarks; each figure also printed as `BENCH <name> <value> <unit>` (docs/performance.md).
# The pool at size (BenchmarkPoolAtSize: 1,000 executors over gRPC with TLS, 100,000 queued tasks) takes
# about 15 s; benchmarks that print their own BENCH lines have them passed through.
bench:
	@go test -run '^$$' -bench . -benchmem $(GO_PACKAGES) | tee /dev/stderr | awk '/^BENCH / { print; next } /^Benchmark/ { \
	  name=$$1; sub(/-[0-9]+$$/, "", name); \
	  for (i = 3; i < NF; i += 2) printf "BENCH %s %s %s\n", name, $$i, $$(i+1) }'

## bench-e2e: end-to-end figures on the real stack, actor against pod per task (docs/performance.md); BENCH lines.
# A first build compiles the stack (10-15 minutes); the run itself takes about 10 minutes. BENCH_E2E_FLAGS
# passes flags (e.g. -chain-runs 10, -queues=false).
BENCH_E2E_FLAGS ?=
bench-e2e: venv
	cd tests && go run ./cmd/buildprogress -what "the end-to-end benchmarks (kube-apiserver, etcd, FlytePropeller's libraries)" \
	  -- -o ../bin/bench-e2e ./cmd/benche2e
	cd tests && ../bin/bench-e2e $(BENCH_E2E_FLAGS)

## demo: the main job: the seed's workflows through the real stack on this machine, with timings.
# A first build on a machine compiles a kube-apiserver, etcd and propeller: 10-15 minutes, reported every
# 20 seconds.
demo: venv
	cd tests && go run ./cmd/buildprogress -what "the demo (kube-apiserver, etcd, FlytePropeller's libraries)" \
	  -- -o ../bin/demo ./cmd/demo
	cd tests && ../bin/demo

## clean: remove the binaries (bin/).
clean:
	rm -rf bin
