# lab — see README.md. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN := bin/lab
LDFLAGS := -s -w -X lab.dev/lab/core/version.Version=$(VERSION)
TESTBIN := $(shell test/bin/build.sh --print)
export LAB_TESTBIN := $(TESTBIN)
# The real upstream charts lab pins (test data, never copied into the
# repository): CI and this project's machines have them beside it.
export LAB_UPSTREAM_CHARTS ?= $(wildcard $(abspath ../shared/charts))

.PHONY: help build build-nocgo image unit test integration prereqs testbin lint fuzz demo bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/lab with cgo (NVML), and bin/kubectl-lab: the same binary as a kubectl plugin (kubectl lab …)
	CGO_ENABLED=1 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/lab
	ln -f $(BIN) bin/kubectl-lab

build-nocgo: ## build bin/lab-nocgo without cgo (no NVML)
	CGO_ENABLED=0 $(GO) build -ldflags '-s -w -X lab.dev/lab/core/version.Version=$(VERSION)' -o bin/lab-nocgo ./cmd/lab

IMAGE ?= lab.dev/lab:$(VERSION)
image: build-nocgo ## the agent's container image (lab diagnose --in-cluster, lab agent serve), with Docker or Podman
	cp /etc/ssl/certs/ca-certificates.crt bin/ 2>/dev/null || { echo "no /etc/ssl/certs/ca-certificates.crt: the image gets no CA bundle (HTTPS sinks will fail)"; : > bin/ca-certificates.crt; }
	printf 'lab\n' > bin/.dockerignore
	docker build -t $(IMAGE) -f Dockerfile bin

unit: ## unit tests only: fast, need nothing built
	$(GO) test ./...

prereqs: ## check (as root: install) what make test needs, in seconds, before any long build
	test/bin/prereqs.sh test

testbin: prereqs ## build the real control plane, kwok, terraform and ollama into the cache (cold ≈ 16 min, warm: seconds)
	test/bin/build.sh

integration: testbin ## integration tests against real kube-apiserver + etcd + kwok + ollama
	GO=$(GO) test/bin/integration.sh

test: prereqs ## everything CI runs: lint, unit, the built binaries start, integration
	$(MAKE) build build-nocgo testbin
	$(MAKE) lint
	$(GO) test -count=1 ./...
	./$(BIN) --help >/dev/null && ./bin/lab-nocgo --help >/dev/null && ./$(BIN) version
	GO=$(GO) test/bin/integration.sh /tmp/lab-integration.log

lint: ## go vet + gofmt check
	$(GO) vet ./...
	$(GO) vet -tags integration ./test/...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fuzz: ## fuzz the lab.yaml loader for 30s
	$(GO) test -run=^$$ -fuzz=FuzzLoad -fuzztime=30s ./core/config/v1alpha1/

demo: ## the quick start: kwok lab up, break a pod, diagnose it (rules only: the demo lab runs no model)
	test/bin/prereqs.sh demo
	$(MAKE) build
	test/bin/build.sh demo
	examples/demo.sh

bench: build testbin ## run the benchmarks and rewrite BENCHMARKS.md
	test/bench/run.sh

clean:
	rm -rf bin
