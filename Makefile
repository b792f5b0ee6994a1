# keyline developer entry points. `make` (or `make help`) lists the targets:
# every target with a "## " comment shows up there, so the list cannot drift
# from what the Makefile really does.

SHELL := /bin/bash
# -e -u -o pipefail: a failing command in the middle of a pipe or a recipe
# line fails the target instead of being masked by the last command.
.SHELLFLAGS := -o pipefail -euc
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

GO ?= go
BIN := bin/keyline
WIRE := github.com/google/wire/cmd/wire@v0.7.0
# The browser pages' bundles (package handlers/httpapi/web), built from web/
# by esbuild (`make web`). Committed, so `go build` needs no Node.js.
WEB_DIST := handlers/httpapi/web/dist
# Files that `make generate` writes and that are committed: check-generate
# fails when they differ from a fresh generation.
GENERATED := wire_gen.go $(WEB_DIST)
# The served subset of Unkey's OpenAPI document: a committed source, refreshed
# by hand with `make openapi` (its input is not part of the repository).
OPENAPI_SPEC := handlers/httpapi/openapi/openapi.yaml
# Every Go source of ours: not what tools, caches or test fixtures bring
# (testdata may hold deliberately malformed Go).
GO_FILES = $(shell find . \( -name .git -o -name node_modules -o -name .cache -o -name testdata \
	-o -name vendor -o -path ./bin -o -path ./data \) -prune -o -name '*.go' -type f -print)

# The services the tests talk to (see infra/testenv). Exported so that
# `make test KEYLINE_TEST_POSTGRES_URL=...` reaches both ensure-services.sh
# and the test binaries; values from the environment pass through unchanged.
KEYLINE_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
KEYLINE_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
KEYLINE_TEST_CLICKHOUSE_URL ?= clickhouse://127.0.0.1:9000/default
export KEYLINE_TEST_POSTGRES_URL KEYLINE_TEST_REDIS_URL KEYLINE_TEST_CLICKHOUSE_URL

.PHONY: help build image run test test-short services bench bench-micro generate check-generate openapi lint fmt tidy clean web screenshots

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-15s %s\n", $$1, $$2}'

# What `keyline version` prints: the toolchain here builds with
# -buildvcs=false, so the Makefile stamps the commit itself.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.buildTime=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

# -v names each package as it is compiled: a cold build (empty cache) takes
# minutes on two cores, and silence looks like a hang. A warm build prints
# nothing.
build: ## build bin/keyline from ./cmd/keyline (stamped for `keyline version`)
	@echo "go build: a cold build compiles ~430 packages (about 3.5 CPU-minutes: ~2 minutes on 2 idle cores, more on a busy machine); names appear as they compile"
	$(GO) build -v -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/keyline

# The container image (Dockerfile): FROM scratch around a static binary built
# here, because no base image can be pulled and a container cannot reach the
# module proxy. The binary is built with exactly the flags of the image test's
# binary (cmd/keyline TestMain: CGO_ENABLED=0 -trimpath), so after `make test`
# only the link step runs. DOCKER_BUILDKIT=0: the legacy builder works with
# any client, BuildKit only with the one of the daemon's package.
IMAGE ?= keyline:dev
DOCKER ?= docker
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
image: ## build the container image $(IMAGE) (default keyline:dev) FROM scratch around a static binary (needs Docker)
	@ctx="$$(mktemp -d)"; trap 'rm -rf "$$ctx"' EXIT; \
	echo "go build (static, CGO_ENABLED=0 -trimpath) into $$ctx"; \
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o "$$ctx/keyline" ./cmd/keyline; \
	cp '$(CA_BUNDLE)' "$$ctx/ca-certificates.crt"; \
	cp deploy/container.json "$$ctx/config.json"; \
	cp Dockerfile "$$ctx/Dockerfile"; \
	mkdir -p "$$ctx/var-lib-keyline" "$$ctx/tmp"; chmod 755 "$$ctx/tmp" "$$ctx/var-lib-keyline"; \
	chmod 644 "$$ctx/ca-certificates.crt" "$$ctx/config.json"; \
	DOCKER_BUILDKIT=0 $(DOCKER) build --quiet --tag '$(IMAGE)' \
		--build-arg VERSION='$(VERSION)' --build-arg REVISION='$(REVISION)' "$$ctx" >/dev/null; \
	echo "built $(IMAGE): $$($(DOCKER) image inspect --format '{{.Size}}' '$(IMAGE)') bytes"

run: build ## build, then run the embedded default (SQLite in ./data, 127.0.0.1:7070; prints a root key)
	./$(BIN) run

services: ## start PostgreSQL, Redis and ClickHouse for the tests if they are not running
	bash infra/testenv/ensure-services.sh

test: services ## run all tests with the race detector (starts PostgreSQL/Redis/ClickHouse first)
	$(GO) test -race -count=1 -timeout 40m ./...

test-short: services ## run all tests without the race detector (faster)
	$(GO) test -count=1 -timeout 40m ./...

bench: build services ## loopback load benchmarks and the issues' targets (cmd/klbench; a few minutes; see docs/BENCHMARKS.md)
	$(GO) run ./cmd/klbench -c 16 -d 5s -ratio-rounds 2 -redis '$(KEYLINE_TEST_REDIS_URL)' \
		-postgres '$(KEYLINE_TEST_POSTGRES_URL)' -clickhouse '$(KEYLINE_TEST_CLICKHOUSE_URL)'

bench-micro: ## Go micro-benchmarks (go test -bench)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

generate: web ## regenerate wire_gen.go (wire), the web bundles and any go:generate outputs
	$(GO) run $(WIRE) gen .
# -skip: wire_gen.go carries wire's own `go run -mod=mod .../wire` directive,
# which would run wire a second time, unpinned, and add wire's dependencies to
# go.sum; the pinned run above already did its job.
	$(GO) generate -skip 'google/wire/cmd/wire' ./...

# npm ci installs exactly web/package-lock.json (esbuild, pinned) from the npm
# registry; a second run reuses web/node_modules while the lock file is
# unchanged (the stamp is written only after a successful install).
web: ## bundle the browser pages (web/src → handlers/httpapi/web/dist) with esbuild from npm
	@if [[ ! -f web/node_modules/.keyline-lock || "$$(cat web/node_modules/.keyline-lock)" != "$$(sha256sum web/package-lock.json)" ]]; then \
		echo "npm ci (web/)"; (cd web && npm ci --no-audit --no-fund --loglevel=error) && \
		sha256sum web/package-lock.json >web/node_modules/.keyline-lock; fi
	node web/build.mjs

# The README's screenshots: the browser tests write them when told where.
screenshots: services ## regenerate docs/img/*.png from the browser tests (headless Chromium)
	KEYLINE_SCREENSHOTS="$(CURDIR)/docs/img" $(GO) test -count=1 -run 'Browser|TestConsole(Portals|AuditLog)Operation' ./cmd/keyline

openapi: ## refresh the OpenAPI subset from Unkey's document: UNKEY_OPENAPI=path [OPS=op,op,... instead of the recorded list]
	@if [[ -z "$(UNKEY_OPENAPI)" ]]; then \
		echo "make openapi: set UNKEY_OPENAPI to Unkey's bundled OpenAPI document (v2)" >&2; exit 2; fi
	ops='$(OPS)'; if [[ -z "$$ops" ]]; then ops="$$(sed -n '2s/.* -ops //p' $(OPENAPI_SPEC))"; fi; \
		$(GO) run ./handlers/httpapi/openapi/gen -src '$(UNKEY_OPENAPI)' -out $(OPENAPI_SPEC) -ops "$$ops"

check-generate: generate ## fail if the committed generated files are stale
	@git diff --exit-code -- $(GENERATED) || \
		{ echo "check-generate: generated files are stale: run 'make generate' and commit the result" >&2; exit 1; }
# git diff does not see untracked files: a generated file never committed is stale too.
	@untracked="$$(git ls-files --others --exclude-standard -- $(GENERATED))"; \
		if [[ -n "$$untracked" ]]; then echo "check-generate: not committed: $$untracked" >&2; exit 1; fi

lint: ## gofmt, go vet and the package layering check (CHECK_GENERATE=1 adds check-generate)
	@unformatted="$$($(if $(GO_FILES),gofmt -l $(GO_FILES)))"; \
		if [[ -n "$$unformatted" ]]; then \
			echo "lint: gofmt would change these files (run 'make fmt'):" >&2; \
			echo "$$unformatted" >&2; exit 1; \
		fi
	$(GO) vet ./...
	bash infra/testenv/check-imports.sh
ifeq ($(CHECK_GENERATE),1)
	$(MAKE) check-generate
endif

fmt: ## gofmt -w every Go file of the repository
	gofmt -w $(GO_FILES)

tidy: ## go mod tidy
	$(GO) mod tidy

clean: ## remove build output and the embedded default's data
	rm -rf bin data
