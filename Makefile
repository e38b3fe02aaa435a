# Switchyard build. `make` builds build/switchyard and build/sy-mock;
# `make test` installs what is missing, builds, and runs every test (unit,
# end-to-end, and both again under ASan+UBSan); `make bench` writes BENCHMARKS.md.

BUILD   ?= build
CC      ?= gcc
PKGS     = libevent libevent_pthreads libcurl json-c libfyaml openssl sqlite3 hiredis
OPT     ?= -O2
SAN     ?=

CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror \
              -Wshadow -Wstrict-prototypes -Wno-unused-parameter -pthread \
              -fno-omit-frame-pointer -Isrc
ifneq ($(SAN),)
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN        = -fsanitize=address,undefined
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is opened at run time when a provider needs it (src/upstream/curl_dl.c),
# to keep idle memory small; of OpenSSL only libcrypto is linked (SHA-256 for
# the cache key, src/cache/key.c), not libssl
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libcurl openssl,$(PKGS)) libcrypto 2>/dev/null) -ldl
CFLAGS  += $(CFLAGS_BASE) $(PKG_CFLAGS)
LDLIBS  += $(LDSAN) $(PKG_LIBS) -lm -pthread

LIB_SRC   := $(shell find src -name '*.c' ! -path src/main.c | sort)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MOCK_SRC  := $(shell find tools/mock -name '*.c' | sort)
MOCK_OBJ  := $(MOCK_SRC:%.c=$(BUILD)/obj/%.o)
BENCH_SRC := $(shell find bench -name '*.c' 2>/dev/null | sort)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/%)
UNIT_SRC  := $(shell find tests/unit -name '*_test.c' | sort)
UNIT_BIN  := $(patsubst tests/unit/%_test.c,$(BUILD)/tests/%_test,$(UNIT_SRC))
DEPS      := $(LIB_OBJ:.o=.d) $(MOCK_OBJ:.o=.d) $(BUILD)/obj/src/main.d

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GITREV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

.PHONY: all deps run test unit e2e asan check-style bench fuzz clean FORCE
all: $(BUILD)/switchyard $(BUILD)/sy-mock $(BENCH_BIN)

deps:
	@bash scripts/deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSY_VERSION='"$(VERSION)"' -DSY_GITREV='"$(GITREV)"' -MMD -MP -c $< -o $@

$(BUILD)/libsy.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# main.o carries the git revision: rebuild it every time (it is small)
$(BUILD)/obj/src/main.o: FORCE
FORCE:

$(BUILD)/switchyard: $(BUILD)/obj/src/main.o $(BUILD)/libsy.a
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/sy-mock: $(MOCK_OBJ) $(BUILD)/libsy.a
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/%: bench/%.c $(BUILD)/libsy.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%_test: tests/unit/%_test.c $(BUILD)/libsy.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $^ $(LDLIBS) -lcriterion

run: deps all
	@BUILD=$(BUILD) bash scripts/run.sh

# Every test: unit and end-to-end on the normal build, then both again on an
# ASan+UBSan build in build-asan/.
test: deps
	@$(MAKE) --no-print-directory check-style
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit e2e
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 all unit e2e
	@bash scripts/fuzz.sh regress

unit: $(UNIT_BIN)
	@bash scripts/run-unit.sh $(UNIT_BIN)

e2e: all
	@BUILD=$(BUILD) bash scripts/run-e2e.sh

check-style:
	@bash scripts/check-style.sh

bench: deps all
	@bash bench/run.sh

# Fuzz every parser of untrusted bytes for FUZZ_SECONDS each (libFuzzer).
fuzz:
	@bash scripts/fuzz.sh run $(or $(FUZZ_SECONDS),60)

clean:
	rm -rf build build-asan

-include $(DEPS)
