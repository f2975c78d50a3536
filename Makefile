# varde: `make demo` runs the main job on embedded defaults, `make test` runs every test.
GO           ?= go
BIN          := bin/varde
# The latency lab runs in a program of its own, never linked into varde; varde finds it beside itself.
LAB          := bin/varde-lab
# Debian packages the tests, benchmarks and demo use; .ci/deps installs the missing ones.
APT_PACKAGES := poppler-utils qpdf fping lynis libnss3-tools iproute2 iputils-ping openssl
FUZZTIME     ?= 10s

.PHONY: all build deps test fuzz demo bench clean

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

# Short, bounded fuzzing of the parsers that read untrusted files.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzNginx$$' -fuzztime=$(FUZZTIME) ./guest/nginxconf
	$(GO) test -run='^$$' -fuzz='^FuzzMyCnf$$' -fuzztime=$(FUZZTIME) ./guest/mycnf
	$(GO) test -run='^$$' -fuzz='^FuzzXenCfg$$' -fuzztime=$(FUZZTIME) ./guest/xencfg

demo: deps build
	@bash demo/run

bench: deps build
	$(GO) run ./bench/ingest

clean:
	rm -rf bin out
