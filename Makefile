# nagare — `make` prints this help.
GO      ?= go
BIN     := bin/nagare
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/nagare-video/nagare/internal/version.Version=$(VERSION)

.PHONY: help build demo test soak test-short lint fmt bench deps clean generate check-generated web release image

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build bin/nagare
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/nagare

demo: build ## run nagare with embedded defaults and a live ffmpeg test stream; prints the URLs
	@scripts/deps.sh ffmpeg
	@scripts/demo.sh $(BIN)

test: ## install and start what the tests need, then run every test with -race
	@scripts/deps.sh
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal)" || (echo "gofmt needed:"; gofmt -l cmd internal; exit 1)
	@scripts/gen-proto.sh -check
	@scripts/web-build.sh -check
	$(GO) test -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v -e /test/players/ -e /test/webrtc/ -e /test/e2e -e '/test/web$$')
	@# the player, page and walk-through tests decode video in Chromium, VLC and GStreamer: alone, so that
	@# other packages' load does not turn into stalls
	$(GO) test -race -count=1 -timeout 20m -p 1 ./test/players/... ./test/webrtc/... ./test/e2e/... ./test/web/...

soak: ## the soak at full scale: 500 virtual viewers through faults (see docs/loadtest.md); report in docs/soak/
	@scripts/deps.sh ffmpeg versitygw
	SOAK_SCALE=full SOAK_REPORT=$(CURDIR)/docs/soak $(GO) test -count=1 -timeout 40m -run '^TestSoak$$' -v ./test/e2e/

test-short: ## unit tests only (skips the ffmpeg integration tests)
	$(GO) test -race -short ./...

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l cmd internal)" || (gofmt -l cmd internal; exit 1)
	$(GO) vet ./...

# bench measures bin/nagare built as the release is (static, -trimpath, stripped: scripts/release.sh), which is
# what operators run, and what lets the image phase's release build reuse every compiled package.
bench: ## benchmark the origin against nginx-rtmp and static nginx (about 19 min); writes docs/benchmarks.md and docs/cost-curves.png
	@scripts/deps.sh ffmpeg versitygw bench
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN) ./cmd/nagare
	scripts/bench.sh $(BIN)

generate: ## regenerate the gRPC code from proto/ (protoc from Debian, pinned Go plugins)
	scripts/gen-proto.sh

check-generated: ## fail if the committed gRPC code differs from what proto/ generates
	scripts/gen-proto.sh -check

web: ## refresh the embedded hls.js (internal/webui/assets/vendor) from web/package-lock.json with npm
	scripts/web-build.sh

release: ## static linux/amd64 and linux/arm64 binaries, the version stamped, and SHA256SUMS in dist/
	@scripts/release.sh "$(VERSION)"

image: ## the container images nagare:$(VERSION) (with ffmpeg) and nagare:$(VERSION)-slim, from deploy/Dockerfile
	@scripts/deps.sh docker
	@scripts/image.sh "$(VERSION)"

clean: ## remove build output
	rm -rf bin dist
