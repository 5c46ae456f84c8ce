# GANPaint-Go. The two set-up commands are `make run` and `make test`; every
# other target is a step they use or a tool for developers.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
GO ?= go
PYTHON ?= /usr/bin/python3
ADDR ?= 127.0.0.1:8080
# The model that dissect, recipes and efficacy work on: model v2 once it is exported, else v1.
MODEL ?= $(if $(wildcard assets/models/scenes128v2/manifest.json),assets/models/scenes128v2,assets/models/scenes128)
# Recipe training processes (one torch thread each).
JOBS ?= 2
BIN := bin/ganpaint
ORT_LIB := $(CURDIR)/.ort/libonnxruntime.so.1
TEMPL := $(GO) run github.com/a-h/templ/cmd/templ@v0.3.1100
# The project's own library, not whatever the shell's ONNXRUNTIME_LIB names
# (a stale one would win over .ort/); `make test ONNXRUNTIME_LIB=...` still
# chooses another. Model tests fail, not skip, when it cannot be loaded.
export ONNXRUNTIME_LIB := $(ORT_LIB)
export GANPAINT_REQUIRE_RUNTIME := 1

.PHONY: run build ort test test-go fuzz-smoke check-deploy test-python test-toy test-browser check-generated lint bench model model-v1 dissect recipes efficacy clean

## run: fetch ONNX Runtime if missing, build, and serve the painter on the embedded model.
run: build
	./$(BIN) serve --addr $(ADDR)

build: ort
	$(GO) build -o $(BIN) ./cmd/ganpaint

## ort: fetch the ONNX Runtime shared library into .ort/ (skipped when present).
ort: $(ORT_LIB)
$(ORT_LIB):
	bash scripts/fetch-ort.sh

## test: install what is missing, then run every test: Go (unit, golden, fuzz seeds),
## generated-code and formatting checks, Python training tests, the toy training
## pipeline and the real-browser test.
test: ort check-generated lint test-go fuzz-smoke check-deploy test-python test-toy test-browser
	@echo "make test: all suites passed"

check-generated:
	$(TEMPL) generate -path web >/dev/null
	@git diff --exit-code -- '*_templ.go' || { echo "templ output is stale: run '$(TEMPL) generate' and commit"; exit 1; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')); [ -z "$$out" ] || { echo "gofmt needed: $$out"; exit 1; }
	$(GO) vet ./...

test-go: ort
	$(GO) test -count=1 ./...

## fuzz-smoke: a few seconds of coverage-guided fuzzing per decoder of outside
## input (their committed seed corpora already run in test-go). A count, not a
## duration: Go 1.26's fuzz coordinator can report "context deadline exceeded"
## when a duration ends while a starved worker is mid-run (go.dev/issue/75804).
FUZZTIME ?= 20000x
fuzz-smoke:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeState$$' -fuzztime $(FUZZTIME) ./painting
	for t in FuzzClientMessage FuzzClientAddr FuzzDecodeRefMask FuzzRefMaskJSON FuzzProjectOf; do \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./server; \
	done
	$(GO) test -run '^$$' -fuzz '^FuzzParseEditSpec$$' -fuzztime $(FUZZTIME) ./cmd/ganpaint

## check-deploy: lint the Dockerfile, run its steps in a chroot root fs, and
## schema-check the Kubernetes manifests.
check-deploy: ort
	bash scripts/check-docker.sh all
	bash scripts/check-k8s.sh

test-python:
	bash scripts/install-deps.sh python
	$(PYTHON) -m unittest discover -s training/tests -v

# The whole training pipeline at toy size, then ONNX Runtime (Go) against torch on its export.
test-toy: build
	bash scripts/install-deps.sh python
	toy=$$(mktemp -d -t ganpaint-toy.XXXXXX) && trap 'rm -rf "$$toy"' EXIT && \
	bash training/toy_pipeline.sh "$$toy" && \
	bash training/tests/test_post_gan.sh "$$toy" && \
	$(PYTHON) training/recipes.py --model "$$toy/model" --check-out "$$toy/recipe-check.npz" && \
	GANPAINT_EXPORT_MODEL="$$toy/model" GANPAINT_EXPORT_REF="$$toy/model-check.npz" \
	GANPAINT_RECIPE_MODEL="$$toy/model" GANPAINT_RECIPE_REF="$$toy/recipe-check.npz" \
		$(GO) test -count=1 -run 'TestExportMatchesTorch|TestRecipeTorchMatchesRuntime' -v ./inference/ | grep -E 'max \||segmenter:|^(ok|FAIL|---)'

test-browser: build
	bash scripts/install-deps.sh browser
	bash web/e2e/install.sh
	GANPAINT_BIN=$(CURDIR)/$(BIN) bash web/e2e/run.sh

## bench: engine micro-benchmarks on the default model, then one run comparing strokes
## (full and region-limited tail, fp32 and reduced-precision copies of the tail) with
## regeneration in ONNX Runtime and in PyTorch eager (docs/performance.md).
bench: build
	bash scripts/install-deps.sh python
	GANPAINT_BENCH_MODEL=$(CURDIR)/$(MODEL) $(GO) test -run '^$$' -bench . -benchtime 20x ./inference/
	GANPAINT_BENCH_MODEL=$(CURDIR)/$(MODEL) $(GO) test -run '^$$' -bench . -benchtime 300x ./server/
	q=$$(mktemp -d -t ganpaint-precision.XXXXXX) && trap 'rm -rf "$$q"' EXIT && \
	$(PYTHON) training/quantize_tail.py --model $(MODEL) --out "$$q/int8" --from-layer layer5 \
		--keep-to-rgb --clip-percentile 0.01 && \
	$(PYTHON) training/quantize_tail.py --model $(MODEL) --out "$$q/fp16" --from-layer layer5 --scheme fp16 && \
	./$(BIN) bench --compare-torch --python $(PYTHON) --variant int8="$$q/int8" --variant fp16="$$q/fp16"

## model: model v2 (scenes128v2) from scratch: scene world v2, segmenter, the GAN in resumable
## chunks (about 7 CPU-hours; CHUNK_MINUTES=150 stops after a chunk, run again to continue), then
## training/post_gan.sh: export, quality metrics, dissection of layer3..layer8, recipes, brush
## efficacy, inpainter, sheets and MODEL.md, each step skipped when its output exists
## (docs/training.md; about 100 minutes on an idle 2-core machine after the GAN).
model:
	bash scripts/install-deps.sh python
	bash training/make_model_v2.sh

## model-v1: reproduce model v1 (scenes128, the embedded default until v2 beats it) and re-export
## it, then dissect it, learn its concept recipes and measure its brushes.
model-v1:
	bash scripts/install-deps.sh python
	bash training/make_model.sh
	$(MAKE) dissect MODEL=assets/models/scenes128
	$(MAKE) recipes MODEL=assets/models/scenes128

## recipes: learn the concept recipes of MODEL (39 recipes for v1: about 80 minutes on an idle
## 2-core machine in one process, about half in JOBS=2 processes over disjoint concepts), then
## measure every brush with calibrated strength steps and pick the painter's defaults.
recipes: build
	bash scripts/install-deps.sh python
	$(PYTHON) training/recipes.py --model $(MODEL) --jobs $(JOBS)
	./$(BIN) efficacy --model $(MODEL) --calibrate

## dissect: re-run the dissection of the default model and store it next to the model.
dissect: build
	./$(BIN) dissect --model $(MODEL) --layers layer4,layer6 --samples 1000 --threshold iqr

## efficacy: measure what every brush of the default model paints and erases (about
## 10 minutes on 2 cores); writes efficacy.json and the table in its MODEL.md.
efficacy: build
	./$(BIN) efficacy --model $(MODEL)

clean:
	rm -rf bin
