# wsio - plain GNU make. `make help` lists the targets.

VERSION_H := include/wsio/common.h
MAJOR := $(shell sed -n 's/^\#define WSIO_VERSION_MAJOR //p' $(VERSION_H))
MINOR := $(shell sed -n 's/^\#define WSIO_VERSION_MINOR //p' $(VERSION_H))
PATCH := $(shell sed -n 's/^\#define WSIO_VERSION_PATCH //p' $(VERSION_H))
VERSION := $(MAJOR).$(MINOR).$(PATCH)

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

CC ?= cc
AR ?= ar
BUILD ?= build
CFLAGS ?= -O2 -g
# V=1 shows every compiler command.
ifeq ($(V),1)
Q :=
else
Q = @echo "  CC      $@";
endif
# Extra flags for every compile and link (sanitizers use this).
SAN_FLAGS ?=
# WERROR=1 turns warnings into errors (CI does).
WERROR ?=

STD := -std=c11 -D_POSIX_C_SOURCE=200809L
WARN := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion \
        -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
WARN += -Werror
endif
LIB_CFLAGS := $(STD) $(WARN) -Iinclude -fvisibility=hidden $(CFLAGS) $(SAN_FLAGS)
# Installed archives and libraries name no build directory (debug info's
# compilation directory, __FILE__): paths are written relative to ".".
LIB_CFLAGS += -ffile-prefix-map=$(CURDIR)=.
# Tests and examples: cmocka's macros trip -Wconversion, so they get the
# strict set minus the conversion warnings.
APP_CFLAGS := $(STD) -Wall -Wextra -Wshadow -Iinclude -Isrc $(CFLAGS) $(SAN_FLAGS)
ifeq ($(WERROR),1)
APP_CFLAGS += -Werror
endif

# zlib, for the optional libwsio-deflate (permessage-deflate): found by
# pkg-config; HAVE_ZLIB=0 builds and tests as if it were missing.
HAVE_ZLIB ?= $(shell pkg-config --exists zlib 2>/dev/null && echo 1 || echo 0)
ZLIB_CFLAGS := $(shell pkg-config --cflags zlib 2>/dev/null)
ZLIB_LIBS := $(shell pkg-config --libs zlib 2>/dev/null || echo -lz)
DEFLATE_STATIC := $(BUILD)/libwsio-deflate.a
# The suites and fuzz targets that need it.
ZLIB_TEST_SRC := tests/unit/test_deflate.c tests/fuzz/fuzz_inflate.c \
                 tests/integration/test_deflate_limits.c
ifeq ($(HAVE_ZLIB),1)
# Examples turn compression on when it is there.
EXAMPLE_DEFLATE_CFLAGS := -DWSIO_HAVE_DEFLATE
EXAMPLE_DEFLATE_LIBS := $(DEFLATE_STATIC) $(ZLIB_LIBS)
EXAMPLE_DEFLATE_DEPS := $(DEFLATE_STATIC)
else
ZLIB_SKIP := $(ZLIB_TEST_SRC)
endif

LIB_SRC := $(sort $(wildcard src/*.c))
LIB_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
PIC_OBJ := $(patsubst src/%.c,$(BUILD)/pic/%.o,$(LIB_SRC))
HEADERS := $(wildcard include/*.h include/wsio/*.h)

STATIC_LIB := $(BUILD)/libwsio.a
SONAME := libwsio.so.$(MAJOR)
SHARED_REAL := $(BUILD)/libwsio.so.$(VERSION)
SHARED_LIB := $(BUILD)/libwsio.so
PC_FILE := $(BUILD)/wsio.pc
STATIC_PC_FILE := $(BUILD)/wsio-static.pc

UNIT_SRC := $(filter-out $(ZLIB_SKIP),$(sort $(wildcard tests/unit/test_*.c)))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
EXAMPLE_TEST_SRC := $(sort $(wildcard tests/examples/test_*.c))
EXAMPLE_TEST_BIN := $(patsubst tests/examples/%.c,$(BUILD)/tests/examples/%,$(EXAMPLE_TEST_SRC))
# The chat example's room logic and JSON (no wsio dependency).
CHAT_LOGIC_SRC := examples/chat/json.c examples/chat/room.c examples/chat/resume.c
UNIT_HELPERS := $(filter-out tests/unit/test_%.c,$(wildcard tests/unit/*.c))
INTEGRATION_SRC := $(filter-out $(ZLIB_SKIP),$(sort $(wildcard tests/integration/test_*.c)))
INTEGRATION_BIN := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(INTEGRATION_SRC))
# What a program linking libwsio.a needs besides libc.
LIB_LDLIBS := -pthread
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_BUILD := build-fuzz
# The Redis Cluster reply readers' target needs hiredis' headers.
ifneq ($(shell pkg-config --exists hiredis 2>/dev/null && echo 1),1)
REDIS_FUZZ_SKIP := tests/fuzz/fuzz_redis_cluster_reply.c
endif
FUZZ_SRC := $(filter-out $(ZLIB_SKIP) $(REDIS_FUZZ_SKIP),$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=all -fno-omit-frame-pointer

SANITIZE_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
                  -fno-omit-frame-pointer

.PHONY: all lib static shared pkgconfig test unit integration check check-symbols \
        check-globals check-layering check-docs check-api api interop conformance browser sanitize valgrind fuzz fuzz-long fuzz-build install \
        uninstall install-test format format-check clean help \
        examples run-chat examples-test

all: static shared pkgconfig

lib static: $(STATIC_LIB)
shared: $(SHARED_LIB)
pkgconfig: $(PC_FILE) $(STATIC_PC_FILE)

$(BUILD)/obj/%.o: src/%.c $(HEADERS) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: src/%.c $(HEADERS) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -fPIC -c $< -o $@

$(STATIC_LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED_REAL): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) $(SAN_FLAGS) -o $@ $^ $(LIB_LDLIBS)

$(SHARED_LIB): $(SHARED_REAL)
	ln -sf libwsio.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

# wsio.pc with the paths of this build's PREFIX; install writes its own
# copy, so `make all` followed by `make install PREFIX=...` is right.
PC_SUBST = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|'

$(PC_FILE): wsio.pc.in $(VERSION_H)
	@mkdir -p $(dir $@)
	$(PC_SUBST) $< > $@

$(STATIC_PC_FILE): wsio-static.pc.in $(VERSION_H)
	@mkdir -p $(dir $@)
	$(PC_SUBST) $< > $@

# ---- tests -------------------------------------------------------------

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_HELPERS) tests/unit/testutil.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -o $@ $< $(UNIT_HELPERS) $(STATIC_LIB) $(CMOCKA_LIBS) $(LIB_LDLIBS)

# Integration suites: built like the unit suites, run on real sockets.
INTEGRATION_HELPERS := tests/integration/harness.c

$(BUILD)/tests/integration/%: tests/integration/%.c $(INTEGRATION_HELPERS) tests/integration/harness.h \
                              $(UNIT_HELPERS) tests/unit/testutil.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -Itests/unit -o $@ $< $(INTEGRATION_HELPERS) $(UNIT_HELPERS) $(STATIC_LIB) $(CMOCKA_LIBS) $(LIB_LDLIBS)

# Every suite runs, even after one fails; the target fails if any did.
unit: $(UNIT_BIN) $(EXAMPLE_TEST_BIN)
	@failed=0; for t in $(UNIT_BIN) $(EXAMPLE_TEST_BIN); do \
	    echo "== $$t"; $$t || failed=1; \
	done; exit $$failed

integration: $(INTEGRATION_BIN)
	@failed=0; for t in $(INTEGRATION_BIN); do \
	    echo "== $$t"; $$t || failed=1; \
	done; exit $$failed

# The examples against independent clients (Python websockets, Node ws),
# the RFC 6455 conformance suite, and the chat in headless Chromium. Each
# script starts its servers on free loopback ports and stops them by PID.
interop: $(addprefix $(BUILD)/examples/,echo hostloop hostloop_epoll)
	@BUILD=$(BUILD) sh tests/interop/run.sh

# Load and conformance tests open hundreds of connections from one
# address: the examples' per-address limits (docs/security.md) are off there.
EXAMPLE_NO_ADDR_LIMITS := --max-per-addr 0 --handshake-rate 0

conformance: $(BUILD)/examples/echo
	@SERVER_CMD="$(BUILD)/examples/echo $(EXAMPLE_NO_ADDR_LIMITS)" sh tests/conformance/run.sh

browser: $(BUILD)/examples/chat
	@BUILD=$(BUILD) EXPECT_DEFLATE=$(HAVE_ZLIB) EXPECT_RESUME=1 sh tests/browser/chat.sh

# The broadcast example with --threads 2 (one wsio_hub) under bench/loadgen.
examples-test: $(BUILD)/examples/broadcast $(BUILD)/bench/loadgen $(BUILD)/examples/feed $(BUILD)/wsio-cat
	@BUILD=$(BUILD) sh tests/examples/broadcast_threads.sh
	@BUILD=$(BUILD) sh tests/examples/feed.sh

test: unit integration interop conformance browser tools-test examples-test check-symbols \
      check-globals check-layering check-docs check-api check-tutorial tutorial-test \
      install-test

# Every public function is in a layer's page in docs/.
check-docs:
	@sh tests/check_docs.sh

# docs/api.md, the API reference, is generated from the header comments.
# check-api fails when a public function, struct, enum or typedef has no
# doc comment, a header has no "Threads:" note, or docs/api.md is stale.
api:
	python3 tools/gen_api_ref.py --write

check-api:
	@python3 tools/gen_api_ref.py --check

check: test

# Only wsio_* may leave the shared library.
check-symbols: $(SHARED_LIB)
	@bad=$$(nm -D --defined-only $(SHARED_LIB) | awk '{print $$3}' | grep -v '^wsio_' || true); \
	if [ -n "$$bad" ]; then echo "check-symbols: exported non-wsio symbols:"; echo "$$bad"; exit 1; fi; \
	echo "check-symbols: $$(nm -D --defined-only $(SHARED_LIB) | grep -c ' T wsio_') wsio_ functions exported, nothing else"

# No mutable file-scope data anywhere in the library, static or not: only
# objects in .data or .bss count (.data.rel.ro is read-only after
# relocation: const tables holding pointers live there).
check-globals: $(LIB_OBJ)
	@bad=$$(for o in $(LIB_OBJ); do objdump -t $$o | grep -E ' O (\.data|\.bss|\*COM\*)' \
	        | grep -v '\.data\.rel\.ro' | sed "s|^|$$o: |"; done); \
	if [ -n "$$bad" ]; then echo "check-globals: mutable globals:"; echo "$$bad"; exit 1; fi; \
	echo "check-globals: no mutable globals in $(words $(LIB_OBJ)) objects"

# Every file of src/ and include/ in the layer table (tools/layers.txt);
# includes, and calls between the core's objects, go only down, save the
# table's known exceptions; check-layering-test breaks each rule once.
check-layering: $(LIB_OBJ)
	@python3 tools/check_layering.py --objects $(LIB_OBJ)

.PHONY: check-layering-test
test: check-layering-test
check-layering-test: $(LIB_OBJ)
	@BUILD=$(BUILD) sh tests/tools/check_layering_test.sh

# A program built against one release's headers runs on another's
# libwsio.so, both ways (docs/DESIGN.md, ABI).
.PHONY: abi-test
test: abi-test
abi-test: $(SHARED_LIB)
	@BUILD=$(BUILD) CC=$(CC) sh tests/abi/run.sh

# `make test` ends by listing the optional modules it built and tested,
# and those it skipped and why (this recipe runs after every suite).
test:
	@TLS=$(TLS) TLS_FROM="$(origin TLS)" HAVE_ZLIB=$(HAVE_ZLIB) HAVE_ZLIB_FROM="$(origin HAVE_ZLIB)" \
	 REDIS=$(REDIS) REDIS_FROM="$(origin REDIS)" HAVE_LIBUV=$(HAVE_LIBUV) \
	 HAVE_LIBUV_FROM="$(origin HAVE_LIBUV)" sh tests/modules_summary.sh

# The optional modules' .pc files are checked when they are built here.
install-test: all
	+@TLS=$(TLS) HAVE_ZLIB=$(HAVE_ZLIB) REDIS=$(REDIS) sh tests/install_test.sh

# The suites, and the examples under the independent clients and the
# conformance suite, built with ASan + UBSan (leaks are checked at exit).
sanitize:
	$(MAKE) BUILD=build-san SAN_FLAGS="$(SANITIZE_FLAGS)" unit integration interop conformance examples-test

# The unit suites under valgrind's memcheck: a second opinion on memory
# errors and leaks, without recompiling.
valgrind: $(UNIT_BIN) $(EXAMPLE_TEST_BIN)
	@failed=0; for t in $(UNIT_BIN) $(EXAMPLE_TEST_BIN); do \
	    echo "== valgrind $$t"; \
	    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	        $$t >/dev/null 2>$(BUILD)/valgrind.log || { cat $(BUILD)/valgrind.log; failed=1; }; \
	done; exit $$failed

# ---- fuzzing (clang + libFuzzer) ----------------------------------------

# The library is compiled once with coverage instrumentation, then linked
# into each target.
FUZZ_OBJ := $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC))

$(FUZZ_BUILD)/obj/%.o: src/%.c $(HEADERS) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(STD) -Iinclude $(FUZZ_FLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(STD) -Iinclude -Isrc $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LIB_LDLIBS)

# The chat example's JSON reader and room are parsers of untrusted input too.
$(FUZZ_BUILD)/fuzz_chat: tests/fuzz/fuzz_chat.c $(CHAT_LOGIC_SRC) $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(STD) -Iinclude -Iexamples/chat $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(CHAT_LOGIC_SRC) $(FUZZ_OBJ) $(LIB_LDLIBS)

.SECONDARY: $(FUZZ_OBJ)

fuzz-build: $(FUZZ_BIN)

# A longer run: ten minutes a target (make fuzz FUZZ_SECONDS=N for others).
fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=600

# Each target runs FUZZ_SECONDS on a scratch copy of its seed corpus; any
# crash, leak or sanitizer report fails the target.
fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
	    name=$${f##*/fuzz_}; seeds=tests/fuzz/corpus/$$name; work=$(FUZZ_BUILD)/corpus/$$name; \
	    mkdir -p $$work $$seeds; \
	    echo "== fuzz_$$name for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1 $$work $$seeds 2>$(FUZZ_BUILD)/fuzz_$$name.log \
	        || { tail -40 $(FUZZ_BUILD)/fuzz_$$name.log; exit 1; }; \
	    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' $(FUZZ_BUILD)/fuzz_$$name.log; \
	done

# ---- examples ------------------------------------------------------------

EXAMPLE_CFLAGS := $(STD) $(WARN) -Iinclude -Iexamples $(CFLAGS) $(SAN_FLAGS) $(EXAMPLE_DEFLATE_CFLAGS)
EXAMPLE_NAMES := echo broadcast hostloop hostloop_epoll chat feed
EXAMPLE_BIN := $(addprefix $(BUILD)/examples/,$(EXAMPLE_NAMES))
EXAMPLE_COMMON := examples/example.c examples/example.h
# The chat's room logic and JSON have no wsio dependency; they are held to
# the library's warning set and unit-tested by tests/examples/test_*.c.
CHAT_LOGIC_OBJ := $(patsubst examples/%.c,$(BUILD)/obj-examples/%.o,$(CHAT_LOGIC_SRC))

examples: $(EXAMPLE_BIN)

$(BUILD)/examples/%: examples/%.c $(EXAMPLE_COMMON) $(STATIC_LIB) $(EXAMPLE_DEFLATE_DEPS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(EXAMPLE_CFLAGS) -o $@ $< examples/example.c $(EXAMPLE_TLS_LIBS) $(EXAMPLE_DEFLATE_LIBS) $(STATIC_LIB) $(LIB_LDLIBS)

# The chat page is compiled into the binary, so the server runs from
# anywhere. od is in coreutils: no xxd needed.
$(BUILD)/gen/chat_page.c: examples/chat/chat.html
	@mkdir -p $(dir $@)
	{ echo '/* generated from examples/chat/chat.html by the Makefile */'; \
	  echo '#include <stddef.h>'; \
	  echo 'const unsigned char chat_page[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/  */ /g' -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; \
	  echo 'const size_t chat_page_len = sizeof chat_page;'; } > $@

$(BUILD)/obj-examples/%.o: examples/%.c $(wildcard examples/chat/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(STD) $(WARN) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

# The chat's wsio side (app.c) is shared with examples/libuv/; its --redis
# mode (redis_room.c) is compiled in when libwsio-redis is built.
CHAT_APP_SRC := examples/chat/app.c examples/chat/redis_room.c $(CHAT_LOGIC_OBJ) $(BUILD)/gen/chat_page.c examples/example.c
CHAT_APP_DEPS := $(CHAT_APP_SRC) examples/chat/app.h examples/chat/redis_room.h $(EXAMPLE_COMMON) $(STATIC_LIB) $(EXAMPLE_DEFLATE_DEPS)

$(BUILD)/examples/chat: examples/chat/main.c $(CHAT_APP_DEPS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(EXAMPLE_CFLAGS) $(CHAT_REDIS_CFLAGS) -Iexamples/chat -o $@ examples/chat/main.c $(CHAT_APP_SRC) \
	    $(EXAMPLE_TLS_LIBS) $(EXAMPLE_DEFLATE_LIBS) $(CHAT_REDIS_LIBS) $(STATIC_LIB) $(LIB_LDLIBS)

$(BUILD)/tests/examples/%: tests/examples/%.c $(CHAT_LOGIC_OBJ) $(UNIT_HELPERS) tests/unit/testutil.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -Iexamples/chat -Itests/unit -o $@ $< $(CHAT_LOGIC_OBJ) \
	    $(UNIT_HELPERS) $(STATIC_LIB) $(CMOCKA_LIBS)

# Keep the objects: they are not throwaway intermediates.
.SECONDARY: $(CHAT_LOGIC_OBJ)

# The chat inside a libuv loop (host loop mode), when libuv is there
# (Debian: libuv1-dev); HAVE_LIBUV=0 leaves it out.
HAVE_LIBUV ?= $(shell pkg-config --exists libuv 2>/dev/null && echo 1 || echo 0)
UV_CFLAGS := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS := $(shell pkg-config --libs libuv 2>/dev/null)

$(BUILD)/examples/chat-uv: examples/libuv/main.c $(CHAT_APP_DEPS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(EXAMPLE_CFLAGS) $(CHAT_REDIS_CFLAGS) $(UV_CFLAGS) -Iexamples/chat -o $@ examples/libuv/main.c $(CHAT_APP_SRC) \
	    $(EXAMPLE_TLS_LIBS) $(EXAMPLE_DEFLATE_LIBS) $(CHAT_REDIS_LIBS) $(STATIC_LIB) $(UV_LIBS) $(LIB_LDLIBS)

.PHONY: libuv-test
# Chat round trips through wsio-cat, then the browser test, against chat-uv.
libuv-test: $(BUILD)/examples/chat-uv $(BUILD)/wsio-cat
	@BUILD=$(BUILD) sh tests/libuv/run.sh
	@BUILD=$(BUILD) CHAT=$(BUILD)/examples/chat-uv EXPECT_DEFLATE=$(HAVE_ZLIB) sh tests/browser/chat.sh

ifeq ($(HAVE_LIBUV),1)
examples: $(BUILD)/examples/chat-uv
test: libuv-test
endif

# docs/tutorial.md's programs: each a whole file, linked with libwsio only.
TUTORIAL_BIN := $(patsubst examples/tutorial/%.c,$(BUILD)/examples/tutorial/%,$(sort $(wildcard examples/tutorial/*.c)))

examples: $(TUTORIAL_BIN)

$(BUILD)/examples/tutorial/%: examples/tutorial/%.c $(HEADERS) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(EXAMPLE_CFLAGS) -o $@ $< $(STATIC_LIB) $(LIB_LDLIBS)

.PHONY: tutorial-test check-tutorial
# The tutorial's programs, run: round trips through wsio-cat.
tutorial-test: $(TUTORIAL_BIN) $(BUILD)/wsio-cat
	@BUILD=$(BUILD) sh tests/tutorial/run.sh

# Every C block of docs/tutorial.md (and README.md) is a file, or a marked
# region of one, in examples/, byte for byte (tools/doc_includes.py --write
# copies them in).
check-tutorial:
	@python3 tools/doc_includes.py --check

# The README's first command: build and start the chat on port 8080.
run-chat: $(BUILD)/examples/chat
	$(BUILD)/examples/chat --host 127.0.0.1 --port 8080

# ---- install -----------------------------------------------------------

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/wsio $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/wsio.h $(DESTDIR)$(INCLUDEDIR)/wsio.h
	install -m 644 $(filter-out include/wsio/tls.h include/wsio/deflate.h include/wsio/redis.h include/wsio/redis_stream.h,$(wildcard include/wsio/*.h)) $(DESTDIR)$(INCLUDEDIR)/wsio/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libwsio.a
	install -m 755 $(SHARED_REAL) $(DESTDIR)$(LIBDIR)/libwsio.so.$(VERSION)
	ln -sf libwsio.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libwsio.so
	$(PC_SUBST) wsio.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/wsio.pc
	$(PC_SUBST) wsio-static.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/wsio-static.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/wsio.h
	rm -rf $(DESTDIR)$(INCLUDEDIR)/wsio
	rm -f $(DESTDIR)$(LIBDIR)/libwsio.a $(DESTDIR)$(LIBDIR)/libwsio.so \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libwsio.so.$(VERSION) \
	      $(DESTDIR)$(PKGCONFIGDIR)/wsio.pc $(DESTDIR)$(PKGCONFIGDIR)/wsio-static.pc

# ---- housekeeping --------------------------------------------------------

# Every C file of the tree that .clang-format governs; FORMAT_FILES="a.c b.h"
# narrows either target to those files. format copies the examples it
# changed into the docs that quote them (tools/doc_includes.py).
FORMAT_FILES ?= $(sort $(wildcard include/*.h include/wsio/*.h src/*.[ch] src/*/*.[ch] \
                  tests/*/*.[ch] examples/*.[ch] examples/*/*.[ch] tools/*.[ch] \
                  bench/*.[ch] bench/*/*.[ch]))

format:
	clang-format -i $(FORMAT_FILES)
	python3 tools/doc_includes.py --write

format-check:
	@lines=0; files=0; for f in $(FORMAT_FILES); do \
	    n=$$(clang-format "$$f" | diff "$$f" - | grep -c '^<'); \
	    [ "$$n" -eq 0 ] || { files=$$((files + 1)); lines=$$((lines + n)); echo "$$f: $$n lines differ"; }; \
	done; \
	echo "format-check: $$lines lines in $$files of $(words $(FORMAT_FILES)) files differ from clang-format (make format)"; \
	[ "$$lines" -eq 0 ]

clean:
	rm -rf $(BUILD) build-san $(FUZZ_BUILD)

help:
	@echo "all (default)  libwsio.a, libwsio.so.$(MAJOR), wsio.pc, wsio-static.pc in $(BUILD)/"
	@echo "test | check   every test: unit, integration, interop, conformance, browser, examples, checks"
	@echo "unit           only the cmocka suites"
	@echo "integration    servers and clients on 127.0.0.1 (every loop mode, partial I/O)"
	@echo "abi-test       programs built against one release's headers on another's libwsio.so"
	@echo "sanitize       unit, integration, interop, conformance, examples-test under ASan + UBSan"
	@echo "fuzz           every libFuzzer target for FUZZ_SECONDS (default 30)"
	@echo "fuzz-long      every target for ten minutes"
	@echo "valgrind       the unit suites under valgrind memcheck"
	@echo "examples       echo, broadcast, hostloop, chat, tutorial/* (auth with TLS, chat-uv with libuv)"
	@echo "tls            libwsio-tls.a/.so, wsio-tls.pc (OpenSSL; part of all when found; TLS=0 skips)"
	@echo "tls-test       TLS, auth and origin tests (part of test when OpenSSL is found)"
	@echo "deflate        libwsio-deflate (permessage-deflate on zlib); part of all when zlib is found"
	@echo "bench-deflate  wire size, messages/s and memory of compression (needs zlib)"
	@echo "bench-deflate-limits  server memory per idle compressed connection, CPU per MiB inflated"
	@echo "redis          libwsio-redis (pub/sub broker on hiredis); part of all when hiredis is found"
	@echo "redis-test     the module and two chats against a real redis-server (part of test)"
	@echo "bench-redis    deliveries/s and latency across two servers through Redis (pub/sub, Streams)"
	@echo "bench-100k     100,000 idle connections to the echo example, RSS per connection, one echo each"
	@echo "run-chat       build and start the chat on http://127.0.0.1:8080"
	@echo "libuv-test     the chat inside libuv (build/examples/chat-uv): round trips, browser"
	@echo "tutorial-test  run docs/tutorial.md's programs (check-tutorial: its C blocks are files)"
	@echo "install        PREFIX=$(PREFIX) DESTDIR= LIBDIR= INCLUDEDIR="
	@echo "uninstall      remove what install put there"
	@echo "api            regenerate docs/api.md from the headers (check-api: is it current?)"
	@echo "format-check   lines of the tree's C files that clang-format would change (format: change them)"
	@echo "clean          remove build directories"

# ---- wsio-cat (tools/) ------------------------------------------------------

CAT_SRC := $(sort $(wildcard tools/*.c))
CAT_BIN := $(BUILD)/wsio-cat
MAN1DIR ?= $(PREFIX)/share/man/man1

.PHONY: wsio-cat tools-test install-wsio-cat uninstall-wsio-cat

wsio-cat: $(CAT_BIN)

$(CAT_BIN): $(CAT_SRC) $(wildcard tools/*.h) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(STD) $(WARN) -Iinclude $(CFLAGS) $(SAN_FLAGS) -o $@ $(CAT_SRC) \
	    $(STATIC_LIB) $(LIB_LDLIBS)

# wsio-cat against the echo example and against itself in --listen mode.
tools-test: examples $(CAT_BIN)
	@BUILD=$(BUILD) sh tests/tools/wsio_cat_test.sh

install: install-wsio-cat
uninstall: uninstall-wsio-cat

install-wsio-cat: $(CAT_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MAN1DIR)
	install -m 755 $(CAT_BIN) $(DESTDIR)$(PREFIX)/bin/wsio-cat
	install -m 644 docs/wsio-cat.1 $(DESTDIR)$(MAN1DIR)/wsio-cat.1

uninstall-wsio-cat:
	rm -f $(DESTDIR)$(PREFIX)/bin/wsio-cat $(DESTDIR)$(MAN1DIR)/wsio-cat.1

# ---- benchmarks ----------------------------------------------------------

# `make bench` builds the codec micro-benchmarks, the load generator and
# the raw TCP echo peer into $(BUILD)/bench/ and runs the codec benchmarks
# (the figures only; nothing is asserted). bench/compare.sh is the full
# comparison with other servers; docs/PERFORMANCE.md has the results.
BENCH_BIN := $(addprefix $(BUILD)/bench/,codec loadgen tcp_echo addr_lockout)

.PHONY: bench bench-build

bench-build: $(BENCH_BIN)

bench: bench-build
	$(BUILD)/bench/codec

$(BUILD)/bench/%: bench/%.c $(HEADERS) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -Wpedantic -o $@ $< $(STATIC_LIB) $(LIB_LDLIBS)

# 100,000 idle connections to the echo example, then one echo on each
# (bench only, not CI; raises RLIMIT_NOFILE, or shares the port among
# several echo processes where it cannot, and says which it did).
.PHONY: bench-100k
bench-100k:
	BUILD=$(BUILD) bench/idle100k.sh

# The load generator speaks wss:// (--tls) where OpenSSL is (TLS=1).
LOADGEN_TLS_FLAGS = $(if $(filter 1,$(TLS)),-DLOADGEN_TLS $(SSL_CFLAGS))
LOADGEN_TLS_LIBS = $(if $(filter 1,$(TLS)),$(SSL_LIBS))
$(BUILD)/bench/loadgen: bench/loadgen.c $(HEADERS) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -Wpedantic $(LOADGEN_TLS_FLAGS) -o $@ $< $(STATIC_LIB) $(LOADGEN_TLS_LIBS) $(LIB_LDLIBS)

# The floor of the comparison: no wsio in it.
$(BUILD)/bench/tcp_echo: bench/peers/tcp_echo.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -Wpedantic -o $@ $<

# ---- TLS: libwsio-tls on OpenSSL (src/tls/, include/wsio/tls.h) -------------
#
# A separate library, so the core stays libc only. `make tls` builds it;
# `make all` does too when pkg-config finds OpenSSL (TLS=0 turns that off,
# TLS=1 insists). The examples get --tls-cert/--tls-key under the same
# switch, and `make test` / `make sanitize` run tests/tls/run.sh with it.

HAVE_OPENSSL := $(shell pkg-config --exists openssl 2>/dev/null && echo 1)
TLS ?= $(HAVE_OPENSSL)
SSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
SSL_LIBS := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
TLS_SRC := $(sort $(wildcard src/tls/*.c))
TLS_OBJ := $(patsubst src/tls/%.c,$(BUILD)/obj-tls/%.o,$(TLS_SRC))
TLS_PIC := $(patsubst src/tls/%.c,$(BUILD)/pic-tls/%.o,$(TLS_SRC))
TLS_STATIC := $(BUILD)/libwsio-tls.a
TLS_SONAME := libwsio-tls.so.$(MAJOR)
TLS_SHARED_REAL := $(BUILD)/libwsio-tls.so.$(VERSION)
TLS_SHARED := $(BUILD)/libwsio-tls.so
TLS_PC := $(BUILD)/wsio-tls.pc
TLS_TEST_BIN := $(BUILD)/tests/tls/test_tls
# What a program linking both static libraries needs.
TLS_LDLIBS := $(TLS_STATIC) $(STATIC_LIB) $(SSL_LIBS) $(LIB_LDLIBS)

.PHONY: tls tls-test tls-check install-tls uninstall-tls sanitize-tls

tls: $(TLS_STATIC) $(TLS_SHARED) $(TLS_PC)

ifeq ($(TLS),1)
all: tls
test: tls-test tls-check
sanitize: sanitize-tls
install: install-tls
uninstall: uninstall-tls
EXAMPLE_CFLAGS += -DWSIO_EXAMPLE_TLS $(SSL_CFLAGS)
EXAMPLE_TLS_LIBS := $(TLS_STATIC) $(SSL_LIBS)
examples: $(BUILD)/examples/auth
$(EXAMPLE_BIN) $(BUILD)/examples/chat-uv: $(TLS_STATIC)
endif

# The authentication example checks HS256 tokens with OpenSSL's HMAC and
# reads their claims with the chat's JSON reader: TLS builds only.
$(BUILD)/examples/auth: examples/auth.c $(BUILD)/obj-examples/chat/json.o $(EXAMPLE_COMMON) \
                        $(STATIC_LIB) $(TLS_STATIC)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(EXAMPLE_CFLAGS) -Iexamples/chat -o $@ examples/auth.c \
	    $(BUILD)/obj-examples/chat/json.o examples/example.c $(EXAMPLE_TLS_LIBS) \
	    $(STATIC_LIB) $(LIB_LDLIBS)

$(BUILD)/obj-tls/%.o: src/tls/%.c $(HEADERS) src/internal.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) $(SSL_CFLAGS) -c $< -o $@

$(BUILD)/pic-tls/%.o: src/tls/%.c $(HEADERS) src/internal.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) $(SSL_CFLAGS) -fPIC -c $< -o $@

$(TLS_STATIC): $(TLS_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(TLS_SHARED_REAL): $(TLS_PIC) $(SHARED_LIB)
	$(CC) -shared -Wl,-soname,$(TLS_SONAME) $(SAN_FLAGS) -o $@ $(TLS_PIC) \
	    -L$(BUILD) -lwsio $(SSL_LIBS)

$(TLS_SHARED): $(TLS_SHARED_REAL)
	ln -sf libwsio-tls.so.$(VERSION) $(BUILD)/$(TLS_SONAME)
	ln -sf $(TLS_SONAME) $@

$(TLS_PC): wsio-tls.pc.in $(VERSION_H)
	@mkdir -p $(dir $@)
	$(PC_SUBST) $< > $@

$(TLS_TEST_BIN): tests/tls/test_tls.c $(INTEGRATION_HELPERS) tests/integration/harness.h \
                 $(UNIT_HELPERS) tests/unit/testutil.h $(TLS_STATIC) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -Itests/unit -Itests/integration -o $@ $< $(INTEGRATION_HELPERS) \
	    $(UNIT_HELPERS) $(TLS_LDLIBS) $(CMOCKA_LIBS)

# Certificates are made by the script, in a temporary directory; then the
# wsio client, Python's websockets and headless Chromium go over TLS.
tls-test: $(TLS_TEST_BIN) $(addprefix $(BUILD)/examples/,echo chat auth)
	@BUILD=$(BUILD) EXPECT_DEFLATE=$(HAVE_ZLIB) sh tests/tls/run.sh

# The TLS suite and the examples over TLS with ASan + UBSan.
sanitize-tls:
	$(MAKE) BUILD=build-san SAN_FLAGS="$(SANITIZE_FLAGS)" tls-test

# libwsio-tls keeps no mutable data of its own and exports only wsio_*.
tls-check: $(TLS_OBJ) $(TLS_SHARED)
	@bad=$$(for o in $(TLS_OBJ); do objdump -t $$o | grep -E ' O (\.data|\.bss|\*COM\*)' \
	        | grep -v '\.data\.rel\.ro' | sed "s|^|$$o: |"; done); \
	if [ -n "$$bad" ]; then echo "tls-check: mutable globals:"; echo "$$bad"; exit 1; fi; \
	bad=$$(nm -D --defined-only $(TLS_SHARED) | awk '{print $$3}' | grep -v '^wsio_' || true); \
	if [ -n "$$bad" ]; then echo "tls-check: exported non-wsio symbols:"; echo "$$bad"; exit 1; fi; \
	echo "tls-check: no mutable globals; $$(nm -D --defined-only $(TLS_SHARED) | grep -c ' T wsio_') wsio_ functions exported"

install-tls: tls
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/wsio $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/wsio/tls.h $(DESTDIR)$(INCLUDEDIR)/wsio/tls.h
	install -m 644 $(TLS_STATIC) $(DESTDIR)$(LIBDIR)/libwsio-tls.a
	install -m 755 $(TLS_SHARED_REAL) $(DESTDIR)$(LIBDIR)/libwsio-tls.so.$(VERSION)
	ln -sf libwsio-tls.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(TLS_SONAME)
	ln -sf $(TLS_SONAME) $(DESTDIR)$(LIBDIR)/libwsio-tls.so
	$(PC_SUBST) wsio-tls.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/wsio-tls.pc

uninstall-tls:
	rm -f $(DESTDIR)$(INCLUDEDIR)/wsio/tls.h $(DESTDIR)$(LIBDIR)/libwsio-tls.a \
	      $(DESTDIR)$(LIBDIR)/libwsio-tls.so $(DESTDIR)$(LIBDIR)/$(TLS_SONAME) \
	      $(DESTDIR)$(LIBDIR)/libwsio-tls.so.$(VERSION) $(DESTDIR)$(PKGCONFIGDIR)/wsio-tls.pc

# ---- libwsio-deflate: permessage-deflate on zlib (optional) ------------------

DEFLATE_SRC := $(sort $(wildcard src/deflate/*.c))
DEFLATE_OBJ := $(patsubst src/deflate/%.c,$(BUILD)/obj/deflate/%.o,$(DEFLATE_SRC))
DEFLATE_PIC := $(patsubst src/deflate/%.c,$(BUILD)/pic/deflate/%.o,$(DEFLATE_SRC))
DEFLATE_SONAME := libwsio-deflate.so.$(MAJOR)
DEFLATE_SHARED_REAL := $(BUILD)/libwsio-deflate.so.$(VERSION)
DEFLATE_SHARED := $(BUILD)/libwsio-deflate.so
DEFLATE_PC := $(BUILD)/wsio-deflate.pc

.PHONY: deflate install-deflate uninstall-deflate check-symbols-deflate

deflate: $(DEFLATE_STATIC) $(DEFLATE_SHARED) $(DEFLATE_PC)

ifeq ($(HAVE_ZLIB),1)
all: deflate
install: install-deflate
uninstall: uninstall-deflate
test: check-symbols-deflate
endif

$(BUILD)/obj/deflate/%.o: src/deflate/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) $(ZLIB_CFLAGS) -c $< -o $@

$(BUILD)/pic/deflate/%.o: src/deflate/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) $(ZLIB_CFLAGS) -fPIC -c $< -o $@

$(DEFLATE_STATIC): $(DEFLATE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(DEFLATE_SHARED_REAL): $(DEFLATE_PIC) $(SHARED_LIB)
	$(CC) -shared -Wl,-soname,$(DEFLATE_SONAME) $(SAN_FLAGS) -o $@ $(DEFLATE_PIC) \
	    -L$(BUILD) -lwsio $(ZLIB_LIBS)

$(DEFLATE_SHARED): $(DEFLATE_SHARED_REAL)
	ln -sf libwsio-deflate.so.$(VERSION) $(BUILD)/$(DEFLATE_SONAME)
	ln -sf $(DEFLATE_SONAME) $@

$(DEFLATE_PC): wsio-deflate.pc.in $(VERSION_H)
	@mkdir -p $(dir $@)
	$(PC_SUBST) $< > $@

# The suite and fuzz target that need zlib link the codec and zlib.
$(BUILD)/tests/test_deflate: tests/unit/test_deflate.c $(UNIT_HELPERS) tests/unit/testutil.h \
                             $(STATIC_LIB) $(DEFLATE_STATIC)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -o $@ $< $(UNIT_HELPERS) $(DEFLATE_STATIC) $(STATIC_LIB) \
	    $(CMOCKA_LIBS) $(ZLIB_LIBS) $(LIB_LDLIBS)

$(BUILD)/tests/integration/test_deflate_limits: tests/integration/test_deflate_limits.c \
        $(INTEGRATION_HELPERS) tests/integration/harness.h $(UNIT_HELPERS) tests/unit/testutil.h \
        $(STATIC_LIB) $(DEFLATE_STATIC)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) $(ZLIB_CFLAGS) -Itests/unit -o $@ $< $(INTEGRATION_HELPERS) $(UNIT_HELPERS) \
	    $(DEFLATE_STATIC) $(STATIC_LIB) $(CMOCKA_LIBS) $(ZLIB_LIBS) $(LIB_LDLIBS)

$(FUZZ_BUILD)/fuzz_inflate: tests/fuzz/fuzz_inflate.c $(DEFLATE_SRC) $(FUZZ_OBJ) $(wildcard tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(STD) -Iinclude -Isrc $(ZLIB_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(DEFLATE_SRC) $(FUZZ_OBJ) $(ZLIB_LIBS) $(LIB_LDLIBS)

# The wsio client with compression, against Node's ws server (interop).
$(BUILD)/tests/interop_deflate_client: tests/interop/deflate_client.c $(STATIC_LIB) $(DEFLATE_STATIC)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -o $@ $< $(DEFLATE_STATIC) $(STATIC_LIB) $(ZLIB_LIBS) $(LIB_LDLIBS)

ifeq ($(HAVE_ZLIB),1)
interop: $(BUILD)/tests/interop_deflate_client
endif

# Wire size and speed of compression on chat-like JSON (figures only).
$(BUILD)/bench/deflate: bench/deflate.c $(HEADERS) $(STATIC_LIB) $(DEFLATE_STATIC)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -Wpedantic -o $@ $< $(DEFLATE_STATIC) $(STATIC_LIB) $(ZLIB_LIBS) $(LIB_LDLIBS)

.PHONY: bench-deflate
bench-deflate: $(BUILD)/bench/deflate
	$(BUILD)/bench/deflate

# A server's memory per idle compressed connection and CPU per MiB of
# compressed input, on sockets (figures only; docs/deflate.md).
$(BUILD)/bench/deflate_limits: bench/deflate_limits.c $(HEADERS) $(STATIC_LIB) $(DEFLATE_STATIC)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) $(ZLIB_CFLAGS) -o $@ $< $(DEFLATE_STATIC) $(STATIC_LIB) $(ZLIB_LIBS) $(LIB_LDLIBS)

.PHONY: bench-deflate-limits
bench-deflate-limits: $(BUILD)/bench/deflate_limits
	$(BUILD)/bench/deflate_limits idle 5000
	$(BUILD)/bench/deflate_limits cpu 40 15 --no-ratio
	$(BUILD)/bench/deflate_limits cpu 40 15

# Only wsio_* may leave libwsio-deflate.so too.
check-symbols-deflate: $(DEFLATE_SHARED)
	@bad=$$(nm -D --defined-only $(DEFLATE_SHARED) | awk '{print $$3}' | grep -v '^wsio_' || true); \
	if [ -n "$$bad" ]; then echo "check-symbols: libwsio-deflate exports non-wsio symbols:"; echo "$$bad"; exit 1; fi; \
	echo "check-symbols: libwsio-deflate exports $$(nm -D --defined-only $(DEFLATE_SHARED) | grep -c ' T wsio_') wsio_ functions, nothing else"

install-deflate: deflate
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/wsio $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/wsio/deflate.h $(DESTDIR)$(INCLUDEDIR)/wsio/deflate.h
	install -m 644 $(DEFLATE_STATIC) $(DESTDIR)$(LIBDIR)/libwsio-deflate.a
	install -m 755 $(DEFLATE_SHARED_REAL) $(DESTDIR)$(LIBDIR)/libwsio-deflate.so.$(VERSION)
	ln -sf libwsio-deflate.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(DEFLATE_SONAME)
	ln -sf $(DEFLATE_SONAME) $(DESTDIR)$(LIBDIR)/libwsio-deflate.so
	$(PC_SUBST) wsio-deflate.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/wsio-deflate.pc

uninstall-deflate:
	rm -f $(DESTDIR)$(INCLUDEDIR)/wsio/deflate.h $(DESTDIR)$(LIBDIR)/libwsio-deflate.a \
	      $(DESTDIR)$(LIBDIR)/libwsio-deflate.so $(DESTDIR)$(LIBDIR)/$(DEFLATE_SONAME) \
	      $(DESTDIR)$(LIBDIR)/libwsio-deflate.so.$(VERSION) $(DESTDIR)$(PKGCONFIGDIR)/wsio-deflate.pc

# ---- libwsio-redis: servers share topics through Redis (optional) -----------
#
# hiredis is found by pkg-config; REDIS=0 builds and tests as if it were
# missing. The URL parser (src/redis/url.c) needs no hiredis: its unit
# suite and fuzz target always build. The tests start their own
# redis-server on a free port (never the system's service).

HAVE_HIREDIS := $(shell pkg-config --exists hiredis 2>/dev/null && echo 1 || echo 0)
REDIS ?= $(HAVE_HIREDIS)
HIREDIS_CFLAGS := $(shell pkg-config --cflags hiredis 2>/dev/null)
HIREDIS_LIBS := $(shell pkg-config --libs hiredis 2>/dev/null || echo -lhiredis)
REDIS_SRC := $(sort $(wildcard src/redis/*.c))
REDIS_OBJ := $(patsubst src/redis/%.c,$(BUILD)/obj-redis/%.o,$(REDIS_SRC))
REDIS_PIC := $(patsubst src/redis/%.c,$(BUILD)/pic-redis/%.o,$(REDIS_SRC))
# The keyed topic table: libwsio-redis builds its own hidden copy of these
# core files (the core's copies are hidden in libwsio).
REDIS_CORE_SRC := src/common_hashtab.c src/common_siphash.c src/common_random.c
REDIS_OBJ += $(patsubst src/%.c,$(BUILD)/obj-redis/core/%.o,$(REDIS_CORE_SRC))
REDIS_PIC += $(patsubst src/%.c,$(BUILD)/pic-redis/core/%.o,$(REDIS_CORE_SRC))
REDIS_STATIC := $(BUILD)/libwsio-redis.a
REDIS_SONAME := libwsio-redis.so.$(MAJOR)
REDIS_SHARED_REAL := $(BUILD)/libwsio-redis.so.$(VERSION)
REDIS_SHARED := $(BUILD)/libwsio-redis.so
REDIS_PC := $(BUILD)/wsio-redis.pc
REDIS_TEST_BIN := $(BUILD)/tests/redis/test_redis
REDIS_STREAM_TEST_BIN := $(BUILD)/tests/redis/test_redis_stream
REDIS_LDLIBS := $(REDIS_STATIC) $(STATIC_LIB) $(HIREDIS_LIBS) $(LIB_LDLIBS)

.PHONY: redis redis-test redis-check install-redis uninstall-redis sanitize-redis bench-redis

redis: $(REDIS_STATIC) $(REDIS_SHARED) $(REDIS_PC)

ifeq ($(REDIS),1)
all: redis
test: redis-test redis-check
sanitize: sanitize-redis
install: install-redis
uninstall: uninstall-redis
# The chat's --redis (examples/chat/redis_room.c) is compiled in.
CHAT_REDIS_CFLAGS := -DWSIO_HAVE_REDIS $(HIREDIS_CFLAGS)
CHAT_REDIS_LIBS := $(REDIS_STATIC) $(HIREDIS_LIBS)
$(BUILD)/examples/chat $(BUILD)/examples/chat-uv: $(REDIS_STATIC)
endif

$(BUILD)/obj-redis/%.o: src/redis/%.c $(HEADERS) src/internal.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) $(HIREDIS_CFLAGS) -c $< -o $@

$(BUILD)/pic-redis/%.o: src/redis/%.c $(HEADERS) src/internal.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) $(HIREDIS_CFLAGS) -fPIC -c $< -o $@

$(BUILD)/obj-redis/core/%.o: src/%.c $(HEADERS) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -c $< -o $@

$(BUILD)/pic-redis/core/%.o: src/%.c $(HEADERS) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LIB_CFLAGS) -fPIC -c $< -o $@

$(REDIS_STATIC): $(REDIS_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(REDIS_SHARED_REAL): $(REDIS_PIC) $(SHARED_LIB)
	$(CC) -shared -Wl,-soname,$(REDIS_SONAME) $(SAN_FLAGS) -o $@ $(REDIS_PIC) \
	    -L$(BUILD) -lwsio $(HIREDIS_LIBS)

$(REDIS_SHARED): $(REDIS_SHARED_REAL)
	ln -sf libwsio-redis.so.$(VERSION) $(BUILD)/$(REDIS_SONAME)
	ln -sf $(REDIS_SONAME) $@

$(REDIS_PC): wsio-redis.pc.in $(VERSION_H)
	@mkdir -p $(dir $@)
	$(PC_SUBST) $< > $@

# The URL parser's suite and fuzz target link only url.c.
$(BUILD)/tests/test_redis_url: tests/unit/test_redis_url.c src/redis/url.c $(UNIT_HELPERS) \
                               tests/unit/testutil.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -o $@ $< src/redis/url.c $(UNIT_HELPERS) $(STATIC_LIB) \
	    $(CMOCKA_LIBS) $(LIB_LDLIBS)

# The cluster's slot function has its own suite, without hiredis too.
$(BUILD)/tests/test_redis_keyslot: tests/unit/test_redis_keyslot.c src/redis/keyslot.c \
                                   src/redis/keyslot.h $(UNIT_HELPERS) tests/unit/testutil.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -o $@ $< src/redis/keyslot.c $(UNIT_HELPERS) $(STATIC_LIB) \
	    $(CMOCKA_LIBS) $(LIB_LDLIBS)

$(FUZZ_BUILD)/fuzz_redis_url: tests/fuzz/fuzz_redis_url.c src/redis/url.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(STD) -Iinclude -Isrc $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
	    src/redis/url.c $(FUZZ_OBJ) $(LIB_LDLIBS)

# The readers of -MOVED and CLUSTER SLOTS: hiredis' reply type, none of
# its code.
$(FUZZ_BUILD)/fuzz_redis_cluster_reply: tests/fuzz/fuzz_redis_cluster_reply.c src/redis/cluster_reply.c \
                                        src/redis/cluster_reply.h $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(STD) -Iinclude -Isrc $(HIREDIS_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
	    src/redis/cluster_reply.c $(FUZZ_OBJ) $(LIB_LDLIBS)

$(REDIS_TEST_BIN): tests/redis/test_redis.c tests/redis/redis_server.c tests/redis/redis_server.h \
                   $(INTEGRATION_HELPERS) tests/integration/harness.h \
                   $(UNIT_HELPERS) tests/unit/testutil.h $(REDIS_STATIC) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) $(HIREDIS_CFLAGS) -Itests/unit -Itests/integration -o $@ $< \
	    tests/redis/redis_server.c $(INTEGRATION_HELPERS) $(UNIT_HELPERS) $(REDIS_LDLIBS) $(CMOCKA_LIBS)

$(REDIS_STREAM_TEST_BIN): tests/redis/test_redis_stream.c tests/redis/redis_server.c tests/redis/redis_server.h \
                   $(INTEGRATION_HELPERS) tests/integration/harness.h \
                   $(UNIT_HELPERS) tests/unit/testutil.h $(REDIS_STATIC) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) $(HIREDIS_CFLAGS) -Itests/unit -Itests/integration -o $@ $< \
	    tests/redis/redis_server.c $(INTEGRATION_HELPERS) $(UNIT_HELPERS) $(REDIS_LDLIBS) $(CMOCKA_LIBS)

REDIS_CLUSTER_TEST_BIN := $(BUILD)/tests/redis/test_redis_cluster
$(REDIS_CLUSTER_TEST_BIN): tests/redis/test_redis_cluster.c tests/redis/redis_server.c tests/redis/redis_server.h \
                   $(INTEGRATION_HELPERS) tests/integration/harness.h \
                   $(UNIT_HELPERS) tests/unit/testutil.h $(REDIS_STATIC) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) $(HIREDIS_CFLAGS) -Itests/unit -Itests/integration -o $@ $< \
	    tests/redis/redis_server.c $(INTEGRATION_HELPERS) $(UNIT_HELPERS) $(REDIS_LDLIBS) $(CMOCKA_LIBS)

# A chat client for the two-instance test (wsio client, no browser).
$(BUILD)/tests/redis/chat_peer: tests/redis/chat_peer.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -o $@ $< $(STATIC_LIB) $(LIB_LDLIBS)

# The module against a real redis-server on every loop mode, then two
# chat processes sharing one room through it (Redis killed and restarted
# in the middle).
redis-test: $(REDIS_TEST_BIN) $(REDIS_STREAM_TEST_BIN) $(REDIS_CLUSTER_TEST_BIN) $(BUILD)/examples/chat $(BUILD)/tests/redis/chat_peer
	@$(REDIS_TEST_BIN)
	@$(REDIS_STREAM_TEST_BIN)
	@$(REDIS_CLUSTER_TEST_BIN)
	@BUILD=$(BUILD) sh tests/redis/chat.sh

# After sanitize-tls when both run: they build into the same build-san/.
sanitize-redis: $(if $(filter 1,$(TLS)),sanitize-tls)
	$(MAKE) BUILD=build-san SAN_FLAGS="$(SANITIZE_FLAGS)" redis-test

# libwsio-redis keeps no mutable data of its own and exports only wsio_*.
redis-check: $(REDIS_OBJ) $(REDIS_SHARED)
	@bad=$$(for o in $(REDIS_OBJ); do objdump -t $$o | grep -E ' O (\.data|\.bss|\*COM\*)' \
	        | grep -v '\.data\.rel\.ro' | sed "s|^|$$o: |"; done); \
	if [ -n "$$bad" ]; then echo "redis-check: mutable globals:"; echo "$$bad"; exit 1; fi; \
	bad=$$(nm -D --defined-only $(REDIS_SHARED) | awk '{print $$3}' | grep -v '^wsio_' || true); \
	if [ -n "$$bad" ]; then echo "redis-check: exported non-wsio symbols:"; echo "$$bad"; exit 1; fi; \
	bad=$$(nm -D --undefined-only $(REDIS_SHARED) | awk '{print $$2}' | grep '^wsio__' || true); \
	if [ -n "$$bad" ]; then echo "redis-check: needs libwsio internals libwsio.so does not export:"; echo "$$bad"; exit 1; fi; \
	echo "redis-check: no mutable globals; libwsio-redis exports $$(nm -D --defined-only $(REDIS_SHARED) | grep -c ' T wsio_') wsio_ functions, nothing else"

install-redis: redis
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/wsio $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/wsio/redis.h $(DESTDIR)$(INCLUDEDIR)/wsio/redis.h
	install -m 644 include/wsio/redis_stream.h $(DESTDIR)$(INCLUDEDIR)/wsio/redis_stream.h
	install -m 644 $(REDIS_STATIC) $(DESTDIR)$(LIBDIR)/libwsio-redis.a
	install -m 755 $(REDIS_SHARED_REAL) $(DESTDIR)$(LIBDIR)/libwsio-redis.so.$(VERSION)
	ln -sf libwsio-redis.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(REDIS_SONAME)
	ln -sf $(REDIS_SONAME) $(DESTDIR)$(LIBDIR)/libwsio-redis.so
	$(PC_SUBST) wsio-redis.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/wsio-redis.pc

uninstall-redis:
	rm -f $(DESTDIR)$(INCLUDEDIR)/wsio/redis.h $(DESTDIR)$(INCLUDEDIR)/wsio/redis_stream.h \
	      $(DESTDIR)$(LIBDIR)/libwsio-redis.a \
	      $(DESTDIR)$(LIBDIR)/libwsio-redis.so $(DESTDIR)$(LIBDIR)/$(REDIS_SONAME) \
	      $(DESTDIR)$(LIBDIR)/libwsio-redis.so.$(VERSION) $(DESTDIR)$(PKGCONFIGDIR)/wsio-redis.pc

# Messages per second and latency: publisher on one server, receivers on
# another, through a redis-server of its own (figures only).
$(BUILD)/bench/redis: bench/redis.c tests/redis/redis_server.c $(HEADERS) $(REDIS_STATIC) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(APP_CFLAGS) -Itests/redis -o $@ $< tests/redis/redis_server.c $(REDIS_LDLIBS)

bench-redis: $(BUILD)/bench/redis
	$(BUILD)/bench/redis
