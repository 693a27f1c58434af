# pktlog – plain Makefile (no autotools).
#
#   make          build ./pktlog (optimised)
#   make run      install what is missing (Debian 12, as root), build, run on conf/pktlog.yml
#   make test     install what is missing, build with ASan+UBSan, run every test
#   make fuzz     run each libFuzzer harness for FUZZ_SECONDS (default 60)
#   make bench    run the benchmarks in bench/

CC      ?= cc
CLANG   ?= clang
PKGS    := libpcap libhttp_parser yaml-0.1
CSTD    := -std=gnu11
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS += -Iinclude -D_GNU_SOURCE
CFLAGS  ?= -O2 -g
LIBS    := -lpcap -lhttp_parser -lyaml -lm

SRC     := $(shell find src -name '*.c' | sort)
LIB_SRC := $(filter-out src/main.c,$(SRC))
HDRS    := $(wildcard include/pktlog/*.h)

OBJ      := $(SRC:%.c=build/release/%.o)
ASAN_OBJ := $(SRC:%.c=build/asan/%.o)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=build/asan/%.o)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/%.o)

SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: all run test unit integration fuzz fuzz-build bench deps test-deps clean asan

all: pktlog

pktlog: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/release/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# --- sanitizer build: the binary and unit tests `make test` runs ---
asan: build/asan/pktlog $(UNIT_BIN)

build/asan/pktlog: $(ASAN_OBJ)
	$(CC) -O1 -g $(SAN) -o $@ $^ $(LIBS)

build/asan/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) -O1 -g $(SAN) -c -o $@ $<

build/asan/tests/%: tests/unit/%.c $(ASAN_LIB_OBJ) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) -Itests/unit -O1 -g $(SAN) -o $@ $< $(ASAN_LIB_OBJ) $(LIBS) -lcmocka

# --- fuzzing (clang + libFuzzer) ---
fuzz-build: $(FUZZ_BIN)

build/fuzz/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(WARN) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(WARN) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_OBJ) $(LIBS)

fuzz: deps-test fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# --- set-up on a fresh Debian 12 (as root); a no-op when everything is there ---
deps:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

run: deps pktlog
	./pktlog --config conf/pktlog.yml -v

unit: asan
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: build/asan/pktlog
	python3 -m pytest -q tests/integration

test: deps-test
	$(MAKE) asan fuzz-build
	$(MAKE) unit
	$(MAKE) integration
	tests/fuzz/run.sh 10

bench: pktlog
	bench/replay

clean:
	rm -rf build pktlog
