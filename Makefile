# varde: `make demo` runs the main job on embedded defaults, `make test` runs every test.
GO           ?= go
BIN          := bin/varde
# The latency lab runs in a program of its own, never linked into varde; varde finds it beside itself.
LAB          := bin/varde-lab
# Debian packages the tests, benchmarks and demo use; .ci/deps installs the missing ones.
APT_PACKAGES := poppler-utils qpdf fping lynis libnss3-tools iproute2 iputils-ping openssl python3 curl jq chromium-headless-shell
# Runs per fuzz target: a count, not a time (-fuzztime=10s can hit a Go 1.26 fuzz coordinator race that
# fails with "context deadline exceeded" and no reproducer).
FUZZRUNS     ?= 2000
# Every fuzz target, as package:Name. Crashers found become seeds under the package's testdata/fuzz/Name/.
FUZZ_TARGETS := ./guest/nginxconf:FuzzNginx ./guest/mycnf:FuzzMyCnf ./guest/xencfg:FuzzXenCfg \
                ./guest:FuzzSnapshot ./audit/residency:FuzzInventory ./job:FuzzProbeRTT \
                ./job:FuzzConfig ./probes:FuzzTargets ./geoip/cloud:FuzzRanges \
                ./reports/sign:FuzzVerify ./reports/sign:FuzzVerifyCMS ./reports/sign:FuzzKeyFile \
                ./evidencelog:FuzzOpen ./reports:FuzzExtractEvidence \
                ./token:FuzzCheck ./schedule:FuzzSpec \
                ./agentwire:FuzzSamples ./agentwire:FuzzDecodeResult

.PHONY: all build deps test fuzz demo serve bench bench-api clean

all: build

# The version comes from the build: -buildvcs=auto overrides a GOFLAGS that turns stamping off, and the
# linked revision covers git worktrees, which the go command does not stamp.
REVISION     := $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED     := $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo true)
VCSFLAGS     := -buildvcs=auto -ldflags "-X github.com/varde/varde.linkedRevision=$(REVISION) -X github.com/varde/varde.linkedModified=$(MODIFIED)"

build:
	$(GO) build $(VCSFLAGS) -o $(BIN) ./cmd/varde
	$(GO) build -o $(LAB) ./demo/varde-lab

# Installs the PostgreSQL server (when its binaries are missing) and the APT_PACKAGES.
deps:
	@APT_PACKAGES="$(APT_PACKAGES)" bash .ci/deps

# Packages run one at a time (-p 1): the latency lab's delay lines spin on the CPU near each packet's due
# time, and two labs spinning on a 2-core machine would measure each other.
test: deps
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 25m ./...
	$(MAKE) fuzz

# Short, bounded fuzzing of every parser that reads untrusted files, FUZZRUNS inputs each.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}), $(FUZZRUNS) runs"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}$$" -fuzztime=$(FUZZRUNS)x $${t%%:*}; \
	done

demo: deps build
	@bash demo/run

# The scheduled audit service on localhost with the demo config scheduled and one audit started.
serve: deps build
	@bash demo/serve

bench: deps build
	$(GO) run ./bench/ingest

# GET /v1/audits and GET /v1/audits/{id}/findings at 500 requests/s for 30 s against one varde serve.
bench-api: deps build
	$(GO) run ./bench/api

clean:
	rm -rf bin out
