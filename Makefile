# pktlog – plain Makefile (no autotools).
#
#   make          build ./pktlog (optimised)
#   make run      install what is missing (Debian 12, as root), build, run on conf/pktlog.yml
#   make test     install what is missing, build with ASan+UBSan, run every test
#   make fuzz     run each libFuzzer harness for FUZZ_SECONDS (default 300), then MUTANTS
#                 mutated real captures through build/asan/pktlog
#   make bench    run the benchmarks in bench/

CC      ?= cc
CLANG   ?= clang
PKGS    := libpcap libhttp_parser yaml-0.1
CSTD    := -std=gnu11
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS += -Iinclude -Ibuild/bpf -D_GNU_SOURCE
CFLAGS  ?= -O2 -g
# librdkafka, libmicrohttpd, libsqlite3 and libbpf are not linked: src/dl/ opens each with
# dlopen when the feature that needs it starts (see src/dl/lazylib.c).
LIBS    := -lpcap -lhttp_parser -lyaml -lpthread -lm

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
FUZZ_SECONDS ?= 300
MUTANTS ?= 5000

.PHONY: all run test unit integration fuzz fuzz-build bench deps test-deps clean asan install uninstall

all: pktlog

pktlog: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/release/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) $(DL_CPPFLAGS) $(CFLAGS) -c -o $@ $<

# --- eBPF programs (the libbpf-bootstrap way): clang -target bpf → bpftool gen object →
# bpftool gen skeleton; each loader includes its build/bpf/NAME.skel.h ---
BPFTOOL  ?= bpftool
BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_SKEL := $(BPF_SRC:bpf/%.bpf.c=build/bpf/%.skel.h)
BPF_ARCH_INC := -I/usr/include/$(shell $(CC) -dumpmachine)

build/bpf/%.tmp.bpf.o: bpf/%.bpf.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) -O2 -g -target bpf -Wall -Werror -Iinclude $(BPF_ARCH_INC) -c -o $@ $<

build/bpf/%.bpf.o: build/bpf/%.tmp.bpf.o
	$(BPFTOOL) gen object $@ $<

build/bpf/%.skel.h: build/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@.tmp && mv $@.tmp $@

# --- src/dl/: each shim dlopens the soname of this machine's library, read from its
# development .so (librdkafka.so -> librdkafka.so.1) when the shim is compiled ---
DL_LIBS := rdkafka microhttpd sqlite3 bpf
DL_DIRS := $(foreach d,release asan fuzz,build/$(d)/src/dl)
DL_SHIM_OBJ := $(foreach d,$(DL_DIRS),$(DL_LIBS:%=$(d)/%.o))
dl_soname = $(or $(shell objdump -p "$$($(CC) -print-file-name=lib$(1).so)" 2>/dev/null | \
	awk '/SONAME/ { print $$2 }'),$(error cannot read the SONAME of lib$(1).so: is its \
	development package installed? (scripts/install-deps.sh run)))
$(DL_SHIM_OBJ): DL_CPPFLAGS = -DPL_SONAME='"$(call dl_soname,$(basename $(notdir $@)))"'
$(DL_SHIM_OBJ) $(DL_DIRS:%=%/lazylib.o): src/dl/lazylib.h

build/release/src/capture/ebpf_filter.o build/asan/src/capture/ebpf_filter.o \
build/fuzz/src/capture/ebpf_filter.o: $(BPF_SKEL) src/capture/ebpf_filter.h
build/release/src/capture/pcap_source.o build/asan/src/capture/pcap_source.o \
build/fuzz/src/capture/pcap_source.o: src/capture/ebpf_filter.h

# --- sanitizer build: the binary and unit tests `make test` runs ---
asan: build/asan/pktlog $(UNIT_BIN)

build/asan/pktlog: $(ASAN_OBJ)
	$(CC) -O1 -g $(SAN) -o $@ $^ $(LIBS)

build/asan/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) $(DL_CPPFLAGS) -O1 -g $(SAN) -c -o $@ $<

build/asan/tests/%: tests/unit/%.c $(ASAN_LIB_OBJ) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CSTD) $(WARN) $(CPPFLAGS) -Itests/unit -O1 -g $(SAN) -o $@ $< $(ASAN_LIB_OBJ) $(LIBS) -lcmocka

# --- fuzzing (clang + libFuzzer) ---
fuzz-build: $(FUZZ_BIN)

# Made only through the fuzz_% pattern rule: without this make deletes them as
# intermediates after every link, and each fuzz-build recompiles the whole tree.
.SECONDARY: $(FUZZ_LIB_OBJ)

build/fuzz/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(WARN) $(CPPFLAGS) $(DL_CPPFLAGS) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -c -o $@ $<

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CLANG) $(CSTD) $(WARN) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< $(FUZZ_LIB_OBJ) $(LIBS)

fuzz: deps-test fuzz-build build/asan/pktlog
	tests/fuzz/run.sh $(FUZZ_SECONDS)
	python3 tests/fuzz/mutate_pcaps.py --seed $$(date +%s) --count $(MUTANTS)

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

# --- installation (PREFIX and DESTDIR honoured; the unit's paths follow PREFIX) ---
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
STATEDIR   ?= /var/lib/pktlog

install: pktlog
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR)/pktlog $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(PREFIX)/share/doc/pktlog
	install -m 0755 pktlog $(DESTDIR)$(PREFIX)/bin/pktlog
	@# An existing config is the operator's: never overwrite it.
	[ -e $(DESTDIR)$(SYSCONFDIR)/pktlog/pktlog.yml ] || \
		install -m 0644 conf/pktlog.yml $(DESTDIR)$(SYSCONFDIR)/pktlog/pktlog.yml
	sed -e 's|/usr/local/bin/pktlog|$(PREFIX)/bin/pktlog|' \
	    -e 's|/etc/pktlog/|$(SYSCONFDIR)/pktlog/|' \
	    -e 's|/usr/local/share/doc|$(PREFIX)/share/doc|' conf/pktlog.service \
		> $(DESTDIR)$(UNITDIR)/pktlog.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pktlog.service
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/pktlog/README.md
	install -d -m 0750 $(DESTDIR)$(STATEDIR)
	@# The dedicated user, only when installing onto this system as root.
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		id pktlog >/dev/null 2>&1 || useradd --system --no-create-home \
			--home-dir $(STATEDIR) --shell /usr/sbin/nologin pktlog; \
		chown pktlog:pktlog $(STATEDIR); \
	fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pktlog $(DESTDIR)$(UNITDIR)/pktlog.service
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/pktlog
	@echo "kept $(SYSCONFDIR)/pktlog and $(STATEDIR) (config and state are the operator's)"
