# retinad: the two front-door targets are `make run` and `make test` (see README.md).
SHELL := /bin/bash
GO ?= go
PYTHON := /usr/bin/python3
XVFB := xvfb-run -a -s "-screen 0 1920x1080x24"
BIN := bin/retinad

# Where scripts/setup puts ONNX Runtime (the benchmark peer); the code looks here through this variable.
export RETINAD_ONNXRUNTIME ?= $(CURDIR)/.cache/onnxruntime/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1

.PHONY: all setup build run test vet gotest pytest proto bench bench-models bench-sweep fuzz clean paper firmware firmware-only

all: build

setup:
	@scripts/setup

build: setup
	$(GO) build -o $(BIN) ./cmd/retinad

## run: the daemon's main job on the embedded defaults (simulated rig, embedded NATS, bundled models).
run: build
	$(BIN) run --config configs/sim.yaml

## test: vet, every Go test (GL tests under Xvfb), and the Python tests of train/.
test: setup vet firmware gotest pytest

vet:
	$(GO) vet ./...

## gotest runs the tests on the emulated board (calib/avrboard, and the tests named *OnBoard
## elsewhere) alone, after every other package: they run the firmware in an emulator paced to
## real time, which needs a good part of a core to itself (go test runs packages in parallel).
gotest:
	$(XVFB) $(GO) test -count=1 -timeout 30m -skip 'OnBoard$$' $$($(GO) list ./... | grep -v /calib/avrboard$$)
	$(XVFB) $(GO) test -count=1 -timeout 10m -p 1 -run 'OnBoard$$' ./daemon/rig/
	$(GO) test -count=1 -timeout 10m ./calib/avrboard/

pytest:
	cd train && $(PYTHON) -m pytest -q -p no:cacheprovider tests

## firmware: the photodiode firmware (proto/photodiode/firmware) for an ATmega328P at 16 MHz with
## Debian's arduino-mk and gcc-avr, its flash and RAM checked against the Uno's, and avrboard, the
## simavr board that runs it for the tests (calib/avrboard). The .hex to flash is FW_DIR/build/photodiode.hex.
FW_DIR := proto/photodiode/firmware
firmware: setup firmware-only
# firmware-only: the same without scripts/setup (calib/avrboard's tests call it).
firmware-only:
	$(MAKE) -s -C $(FW_DIR)
	scripts/fwsize $(FW_DIR)/build/photodiode.elf
	cc -O2 -Wall -Wextra -Werror -o $(FW_DIR)/build/avrboard proto/photodiode/sim/avrboard.c $$(pkg-config --cflags --libs simavr) -lelf -lm

## proto: regenerate proto/retinadpb/*.pb.go from proto/*.proto with Debian's protoc and the pinned protoc-gen-go.
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
proto: setup
	GOBIN=$(CURDIR)/.cache/bin $(GO) install $(PROTOC_GEN_GO)
	PATH=$(CURDIR)/.cache/bin:$$PATH protoc --proto_path=proto --go_out=. --go_opt=module=retinad proto/*.proto

## bench: every Go benchmark once (GL ones under Xvfb).
bench: setup
	$(XVFB) $(GO) test -run '^$$' -bench . -benchmem ./...

## bench-models: the BN-CNNs of issue #24's sweep (sizes labs use), written by the trainer from
## a fixed seed; large, so generated rather than committed. bench-sweep times them all against
## ONNX Runtime on one core: the last, with bench's stepping thread pinned to it and every other
## thread of the process on the other cores (--cpu; taskset would put them all on the one).
BENCHMODELS := bin/benchmodels
bench-models:
	$(PYTHON) -m train.benchmodels $(BENCHMODELS)

bench-sweep: build bench-models
	$(BIN) bench --sweep $(BENCHMODELS) --cpu $$(( $$(nproc) - 1 ))

## paper: the paper's six experiments on the virtual retina (models/README.md: the budget, the
## table and the figures). Trains the white-noise, data-efficiency and recurrent models and the
## GLMs (two processes at a time, one core each), then scores every model held out, draws
## models/figures/paper*.png and writes the table into models/README.md. The natural-scene
## BN-CNN and LN are the bundled models/bncnn.rtm and ln.rtm, scored afresh.
PAPER := .cache/paper
## Training stimuli use seeds other than configs/sim.yaml's (seed 1), so that what `make run` and the
## e2e test show is held out.
PAPER_ARGS := --natural $(PAPER)/natural.npz --whitenoise $(PAPER)/whitenoise.npz --out $(PAPER) --history 20 --batch 128 --lr 2e-3 --lr-decay 0.5 --patience 3 --epoch-size 4000 --epochs 8 --val-stride 8 --eval-stride 4 --ln-epochs 4 --ln-lr 2e-4 --ln-epoch-size 40000 --threads 1 --retinad $(BIN)
PAPER_RNN := --hidden 4 --chunks 64 --chunk-len 400 --burn-in 100 --rnn-val 2000 --rnn-epochs 20 --rnn-batch 8 --rnn-lr 2e-3 --patience 4
paper: build
	mkdir -p $(PAPER)
	$(BIN) simulate --stimulus natural --duration 40m --seed 3 --out $(PAPER)/natural.npz
	$(BIN) simulate --stimulus whitenoise --duration 20m --seed 2 --out $(PAPER)/whitenoise.npz
	{ $(PYTHON) -m train.paper $(PAPER_ARGS) --stage whitenoise && \
	  $(PYTHON) -m train.paper $(PAPER_ARGS) --stage recurrent $(PAPER_RNN) && \
	  $(PYTHON) -m train.paper $(PAPER_ARGS) --stage glm; } > $(PAPER)/a.log 2>&1 & a=$$!; \
	$(PYTHON) -m train.paper $(PAPER_ARGS) --stage efficiency --epochs 4 --epoch-size 3000 > $(PAPER)/b.log 2>&1 & b=$$!; \
	wait $$a && wait $$b || { tail -n 20 $(PAPER)/a.log $(PAPER)/b.log; exit 1; }
	$(PYTHON) -m train.paper $(PAPER_ARGS) --stage report --readme models/README.md

clean:
	rm -rf bin
