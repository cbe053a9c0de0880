# airlock — two commands on a fresh machine with Go 1.26: `make demo`, `make test`.
GO      ?= go
# Test tools are cached per user and keyed by version, so every clone
# (and CI's fresh clone on the same machine) builds each one once.
TOOLS   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/airlock/tools
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := $(TOOLS)/actionlint-$(ACTIONLINT_VERSION)/actionlint
HYDRA   := $(TOOLS)/hydra-v2.3.0/hydra
FULCIO  := $(TOOLS)/fulcio-v1.8.8/fulcio
TSA     := $(TOOLS)/timestamp-server-v2.1.3/timestamp-server
COSIGN  := $(TOOLS)/cosign-v3.1.3/cosign
OPA     := $(TOOLS)/opa-v1.22.3/opa
KO      := $(TOOLS)/ko-v0.18.1/ko
# Keyed by zitadel/oidc's version and a hash of our wrapper (scripts/tool.sh).
ZITADELOP := $(TOOLS)/zitadelop-v3.52.0-$(shell cat tools/zitadelop/main.go tools/zitadelop/go.sum | sha256sum | cut -c1-12)/zitadelop
export AIRLOCK_TOOLS := $(TOOLS)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)

.PHONY: demo test build image docs man fmt-check vet lint unit bench tools chromium clean

## demo: run the gate six times against an in-process GitHub (no network): five denies (one a self-approval), then an allow that mints the production credential; then airlock serve holds production: it rejects a run no gate decided and approves the next after the gate's allow
demo:
	$(GO) run ./cmd/airlock-rego demo

## test: formatting, vet, workflow lint, every test with the race detector, and make image
test: fmt-check vet lint unit image

## build: bin/airlock and bin/airlock-rego (the commands that evaluate Rego; airlock starts it from its own directory)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X github.com/airlock-dev/airlock/internal/cli.Version=$(VERSION) -X github.com/airlock-dev/airlock/internal/cli.Commit=$(COMMIT)" -o bin/ ./cmd/airlock ./cmd/airlock-rego

## image: the action's OCI image into bin/oci, built as the release builds it (ko, .ko.yaml, scripts/ko-build.sh) on an offline base served on loopback (no Docker engine, no network): root user, entrypoint /ko-app/airlock-rego, Debian's CA certificates
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
CA_BUNDLE  ?= /etc/ssl/certs/ca-certificates.crt
image: $(KO)
	rm -rf bin/oci
	AIRLOCK_VERSION=$(VERSION) $(GO) run ./internal/image/mkimage $(KO) $(CA_BUNDLE) bin/oci $(IMAGE_ARCH)

## docs: the command reference in docs/cli, generated from the command tree (a test keeps it current)
docs:
	rm -rf docs/cli
	$(GO) run ./internal/cli/gendocs markdown docs/cli

## man: man pages of every command into bin/man
man:
	$(GO) run ./internal/cli/gendocs man bin/man

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^tools/')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# testdata is outside ./...; the benchmarks' floor program is vetted too so it
# cannot rot unnoticed between benchmark runs.
vet:
	$(GO) vet ./... ./internal/cli/testdata/floor

# Built once into a cache folder keyed by version.
$(ACTIONLINT):
	GOBIN=$(dir $@) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

# Real servers the tests start on loopback, built once each (scripts/tool.sh).
tools: $(HYDRA) $(FULCIO) $(TSA) $(COSIGN) $(OPA) $(ZITADELOP) $(KO) chromium

$(HYDRA):
	scripts/tool.sh hydra >/dev/null

# Keyless signing end to end (Fulcio, timestamp-authority) and the
# independent verifier of airlock's bundles (cosign).
$(FULCIO):
	scripts/tool.sh fulcio >/dev/null
$(TSA):
	scripts/tool.sh timestamp-server >/dev/null
$(COSIGN):
	scripts/tool.sh cosign >/dev/null
# The runtime policy point for exported grants (airlock grants export).
$(OPA):
	scripts/tool.sh opa >/dev/null
# The RFC 8693 token-exchange issuer the mint tests use (zitadel/oidc's op).
$(ZITADELOP):
	scripts/tool.sh zitadelop >/dev/null
# The image builder of the release and of make image.
$(KO):
	scripts/tool.sh ko >/dev/null
# The browser that renders `airlock audit --format html` in the tests
# (Debian's package; installed only if chromium is not on PATH).
chromium:
	@scripts/tool.sh chromium >/dev/null

lint: $(ACTIONLINT)
	$(ACTIONLINT) -shellcheck= .github/workflows/*.yml docs/examples/*.yml testdata/workflows/*.yml

unit: tools
	$(GO) test -race -count=1 ./...

## bench: the benchmarks reported in docs/BENCHMARKS.md
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/policy/opa/ ./internal/identity/ ./internal/manifest/
	$(GO) test -run '^$$' -bench GateProcess -benchtime 30x ./internal/cli/
	$(GO) test -run TestHydraConcurrentProbes -v ./internal/revocation/
	$(GO) test -run '^$$' -bench 'Sign' -benchtime 50x -count 3 ./internal/cli/ ./internal/attest/
	$(GO) test -run '^$$' -bench 'VerifyBatch|ECDSAP256Verify' -count 3 ./internal/verify/
	$(GO) test -run '^$$' -bench VerifyProcess -benchtime 30x ./internal/cli/
	$(GO) test -run '^$$' -bench AuditOrg -benchtime 1x ./internal/cli/
	$(GO) test -run '^$$' -bench 'RealOPA|InProcessPercentiles' -benchtime 10000x ./internal/grants/opa/

clean:
	rm -rf bin
