# footfall's build. `make` builds build/footfall; `make test` installs what is missing,
# builds, and runs the fast test tier; `make run` starts the collector on 127.0.0.1:8080.

ifeq ($(origin CC),default)
CC := gcc
endif
ifeq ($(origin CXX),default)
CXX := g++
endif
PKGS     := libuv simdjson libxxhash zlib libzstd liblz4 libpcre2-8 yaml-0.1 libmaxminddb sqlite3 libsodium
LLHTTP   := /usr/share/llhttp
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Wstrict-prototypes -Werror
# OPT (and OPT_CXX) are what the asan and fuzz builds change; the rest is fixed.
OPT      ?= -O2 -g
OPT_CXX  ?= $(OPT)
CFLAGS   := $(OPT) -std=c11 $(WARN) -D_GNU_SOURCE -Isrc -I/usr/share/include/llhttp $(PKG_CFLAGS) -pthread
CXXFLAGS := $(OPT_CXX) -std=c++17 -Wall -Wextra -Werror -Isrc $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lstdc++ -lpthread -lm

BUILD    ?= build
SRC_C    := $(shell find src -name '*.c' ! -name main.c | sort)
SRC_CXX  := $(shell find src -name '*.cpp' | sort)
OBJ      := $(SRC_C:%.c=$(BUILD)/obj/%.o) $(SRC_CXX:%.cpp=$(BUILD)/obj/%.o) \
            $(BUILD)/obj/llhttp/llhttp.o $(BUILD)/obj/llhttp/api.o $(BUILD)/obj/llhttp/http.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all run test asan fuzz fuzz-run bench setup clean screenshots
all: $(BUILD)/footfall

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The analysis kernels (distances over millions of rows) are worth the vectoriser's full effort.
$(BUILD)/obj/src/analysis/%.o: CFLAGS += -O3

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

# llhttp is Node's HTTP parser; Debian ships its C sources, not a library.
$(BUILD)/obj/llhttp/%.o: $(LLHTTP)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Werror -Wstrict-prototypes,$(CFLAGS)) -w -c $< -o $@

$(BUILD)/libfootfall.a: $(OBJ)
	ar rcs $@ $^

# Files served from inside the binary (src/web/assets.c embeds them): the tracker and the
# dashboard, minified and gzipped once into build/web, shared by every build. ECharts comes
# from npm (scripts/setup installs it) already minified.
WEB_FILES := t.js index.html app.js app.css echarts.min.js demo.html
WEB_OUT := $(foreach f,$(WEB_FILES),build/web/$(f) build/web/$(f).gz)
build/web/t.js: web/tracker/t.js scripts/minify-js
	scripts/minify-js $< $@
build/web/app.js: web/dashboard/app.js scripts/minify-js
	scripts/minify-js $< $@
build/web/index.html build/web/app.css: build/web/%: web/dashboard/%
	@mkdir -p $(dir $@)
	cp $< $@
build/web/echarts.min.js: $(wildcard node_modules/echarts/dist/echarts.min.js)
	@test -f node_modules/echarts/dist/echarts.min.js || \
	  { echo "node_modules/echarts is missing: run \`make setup\`" >&2; exit 1; }
	@mkdir -p $(dir $@)
	cp node_modules/echarts/dist/echarts.min.js $@
build/web/demo.html: web/demo/index.html
	@mkdir -p $(dir $@)
	cp $< $@
build/web/%.gz: build/web/%
	gzip -9 -n -c $< > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/src/web/assets.o: $(WEB_OUT)

# Linked by the C++ driver: json.cpp needs its runtime (and UBSan's C++ part in sanitizer builds).
$(BUILD)/footfall: $(BUILD)/obj/src/main.o $(BUILD)/libfootfall.a
	$(CXX) $(OPT) -pthread -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libfootfall.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -c -o $@.o $<
	$(CXX) $(OPT) -pthread -o $@ $@.o $(BUILD)/libfootfall.a $(LDLIBS) -lcmocka

setup:
	@scripts/setup

# make run DEMO=off leaves out the demo shop at /demo.
DEMO ?= on
run:
	@scripts/setup
	@$(MAKE) --no-print-directory all
	$(BUILD)/footfall serve --listen 127.0.0.1:8080 --data ./footfall-data --demo $(DEMO)

# The fast tier: unit tests, fuzz corpus replay, integration, SDK and crash tests.
test:
	@scripts/setup test
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@$(MAKE) --no-print-directory fuzz
	@/usr/bin/python3 tests/run.py --bin $(BUILD)/footfall --unit-dir $(BUILD)/tests --fuzz-dir build/fuzz

# The same tests against an AddressSanitizer + UndefinedBehaviorSanitizer build.
asan:
	@scripts/setup test
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang-14 CXX=clang++-14 \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  OPT_CXX="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  build/asan/footfall $(UNIT_BIN:$(BUILD)/%=build/asan/%)
	@ASAN_OPTIONS=detect_leaks=1 /usr/bin/python3 tests/run.py --bin build/asan/footfall --unit-dir build/asan/tests

# libFuzzer harnesses, one per parser of untrusted bytes (tests/fuzz/fuzz_*.c).
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
fuzz:
	@$(MAKE) --no-print-directory BUILD=build/fuzz/lib CC=clang-14 CXX=clang++-14 \
	  OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
	  OPT_CXX="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" build/fuzz/lib/libfootfall.a
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/lib/libfootfall.a
	clang-14 $(filter-out $(OPT),$(CFLAGS)) -O1 -g -fsanitize=fuzzer,address,undefined -c -o $@.o $<
	clang++-14 -O1 -g -fsanitize=fuzzer,address,undefined -pthread -o $@ $@.o build/fuzz/lib/libfootfall.a $(LDLIBS)

# Run one harness for a while, growing its corpus: make fuzz-run NAME=http SECONDS=60
fuzz-run: fuzz
	build/fuzz/fuzz_$(NAME) -max_total_time=$(or $(SECONDS),60) tests/fuzz/corpus/$(NAME)

# The dashboard's pages from generated data, into docs/screenshots/ (the README shows them).
screenshots:
	@scripts/setup test
	@$(MAKE) --no-print-directory all
	scripts/screenshots

bench:
	@scripts/setup bench
	@$(MAKE) --no-print-directory all $(BUILD)/ingest_micro $(BUILD)/fsync_cost $(BUILD)/mem_cost $(BUILD)/store_bench \
	  $(BUILD)/footfall-noparts
	bench/run
	$(BUILD)/ingest_micro
	bench/store
	bench/logs
	bench/analysis

# User-space decoding cost alone (no network, no disk): ns per event.
$(BUILD)/ingest_micro: bench/ingest_micro.c $(BUILD)/libfootfall.a
	$(CC) $(CFLAGS) -c -o $@.o $<
	$(CXX) $(OPT) -pthread -o $@ $@.o $(BUILD)/libfootfall.a $(LDLIBS)

# The store benchmark's event generator and column scanner (bench/store).
$(BUILD)/store_bench: bench/store_bench.c $(BUILD)/libfootfall.a
	$(CC) $(CFLAGS) -c -o $@.o $<
	$(CXX) $(OPT) -pthread -o $@ $@.o $(BUILD)/libfootfall.a $(LDLIBS)

# A benchmark instrument, never shipped: footfall whose flushes discard events instead of
# writing parts (store.c built with FF_BENCH_DISCARD_PARTS), so bench/run can show what the
# collector does without the cost of parts.
$(BUILD)/footfall-noparts: $(BUILD)/obj/src/main.o $(BUILD)/bench/store_noparts.o $(BUILD)/libfootfall.a
	$(CXX) $(OPT) -pthread -o $@ $^ $(LDLIBS)

$(BUILD)/bench/store_noparts.o: src/store/store.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFF_BENCH_DISCARD_PARTS -MMD -MP -c $< -o $@

# What one fdatasync costs on this disk (wall, CPU, context switches).
$(BUILD)/fsync_cost: bench/fsync_cost.c
	$(CC) $(CFLAGS) -o $@ $<

# What memory new to a process costs on this machine (first touch, and touched again).
$(BUILD)/mem_cost: bench/mem_cost.c
	$(CC) $(CFLAGS) -o $@ $<

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
