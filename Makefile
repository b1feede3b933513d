# memfence — one non-recursive Makefile.
#   make            build/libmemfence.so and build/memfence
#   make test       set-up, build, unit (plain + ASan/UBSan) and integration tests
#   make demo       the end-to-end stories on real programs
#   make bench      benchmarks; ratios against the same work without memfence
#   make install PREFIX=/usr/local [DESTDIR=] [LIBDIR=]   and   make uninstall (same variables)
# Quiet unless V=1.  Sources are discovered by wildcard so a new module is one new file.

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
BINDIR     ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/memfence
PCDIR      ?= $(LIBDIR)/pkgconfig
B          := build
V          ?= 0
Q          := $(if $(filter 1,$(V)),,@)
CC         ?= cc
VERSION    := 0.1.0
SOMAJOR    := 0

# libunwind is not linked: src/profile/unwind.c loads it by its soname the first time a stack is wanted
# (profiling, a refusal's backtrace), so the processes that never unwind (most, and every shell
# and helper under a fenced script) do not load and relocate it and liblzma at each start.
# Its headers are needed to build; the package declares it as a dependency (debian/control).
UNWIND_SONAME := $(or $(shell objdump -p $$($(CC) -print-file-name=libunwind.so) 2>/dev/null | \
                   awk '/SONAME/ { print $$2 }'),libunwind.so.8)

WARN       := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes \
              -Wno-unused-parameter -Wvla -Wformat=2
CFLAGS_BASE := -std=gnu11 -O2 -g -fPIC $(WARN) -Iinclude -Isrc -D_GNU_SOURCE \
              -DMF_VERSION=\"$(VERSION)\" -DMF_UNWIND_SONAME=\"$(UNWIND_SONAME)\" -fno-strict-aliasing
LIB_CFLAGS := $(CFLAGS_BASE) -fvisibility=hidden -ftls-model=initial-exec -fno-builtin-malloc \
              -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -fno-stack-protector
PKG_LIBS   := $(shell pkg-config --libs inih 2>/dev/null || echo -linih)
LIB_LDLIBS := -ldl -lpthread $(PKG_LIBS)

# The core: src/'s rooms (src/README.md) except the hooks and the command line.  Built twice:
# into the preload library, and into an archive the unit tests link without preloading anything.
CORE_SRC   := $(sort $(filter-out src/hooks/% src/cli/%,$(wildcard src/*/*.c)))
HOOK_SRC   := $(sort $(wildcard src/hooks/*.c))
CLI_SRC    := $(sort $(wildcard src/cli/*.c))
HOOK_DEFS  := $(sort $(wildcard src/hooks/*.def src/backend/*.def))
CORE_OBJ   := $(CORE_SRC:%.c=$(B)/lib/%.o)
HOOK_OBJ   := $(HOOK_SRC:%.c=$(B)/lib/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(B)/cli/%.o)
UCORE_OBJ  := $(CORE_SRC:%.c=$(B)/unit/%.o)
SCORE_OBJ  := $(CORE_SRC:%.c=$(B)/san/%.o)

UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)
SAN_BIN    := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/san/%)
PROG_SRC   := $(sort $(wildcard tests/progs/*.c))
PROG_BIN   := $(PROG_SRC:tests/progs/%.c=$(B)/tests/progs/%)
PROGXX_SRC := $(sort $(wildcard tests/progs/*.cc))
PROGXX_BIN := $(PROGXX_SRC:tests/progs/%.cc=$(B)/tests/progs/%)
BENCH_SRC  := $(sort $(wildcard bench/*.c))
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
BENCHXX_SRC := $(sort $(wildcard bench/*.cc))
BENCHXX_BIN := $(BENCHXX_SRC:bench/%.cc=$(B)/bench/%)
# Extra shared objects built from tests/ (CUDA test doubles and the like): tests/lib/NAME.c
# becomes build/tests/lib/NAME.so.
TLIB_SRC   := $(sort $(wildcard tests/lib/*.c))
TLIB_BIN   := $(TLIB_SRC:tests/lib/%.c=$(B)/tests/lib/%.so)
TLIBXX_SRC := $(sort $(wildcard tests/lib/*.cc))
TLIB_BIN   += $(TLIBXX_SRC:tests/lib/%.cc=$(B)/tests/lib/%.so)
# The end-to-end examples' C programs: examples/DIR/NAME.c becomes build/examples/DIR/NAME.
EX_SRC     := $(sort $(wildcard examples/*/*.c))
# The real-GPU check program (tests/gpu/fence_check.c), built against the CUDA test doubles.
GPUCHK_BIN := $(B)/tests/progs/gpu_fence_check
EX_BIN     := $(EX_SRC:examples/%.c=$(B)/examples/%)

SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Fuzzing (clang's libFuzzer): tests/fuzz/fuzz_NAME.c becomes build/fuzz/fuzz_NAME, run by
# `make fuzz` for FUZZ_TIME seconds each on tests/fuzz/corpus/NAME (new inputs go to
# build/fuzz/corpus-NAME).  `make test` replays the seed corpus (tests/unit/test_config_corpus).
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)
FCORE_OBJ  := $(CORE_SRC:%.c=$(B)/fuzz/core/%.o)

# Man pages: memfence.conf(5)'s key table is generated from src/config/config_keys.h by the command.
MAN_PAGES  := $(B)/man/memfence.1 $(B)/man/memfence.conf.5

LIB        := $(B)/libmemfence.so
CLI        := $(B)/memfence

.PHONY: all setup test unit integration demo bench compat install uninstall clean fuzz man
all: $(LIB) $(CLI) $(MAN_PAGES) $(B)/memfence.pc

setup:
	$(Q)scripts/setup

# Rebuild everything when the flags change.
$(B)/flags: FORCE
	$(Q)mkdir -p $(B)
	$(Q)echo '$(CC) $(LIB_CFLAGS) $(LIB_LDLIBS)' | cmp -s - $@ || echo '$(CC) $(LIB_CFLAGS) $(LIB_LDLIBS)' > $@
FORCE:

# The version script is generated from the hook tables: one list per table.
$(B)/memfence.map: $(HOOK_DEFS) scripts/mkmap
	$(Q)mkdir -p $(B)
	$(Q)scripts/mkmap $(HOOK_DEFS) > $@

$(B)/lib/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  CC      $<")
	$(Q)$(CC) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(B)/unit/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -DMF_ARCHIVE -MMD -MP -c $< -o $@

$(B)/san/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -DMF_ARCHIVE $(SAN_FLAGS) -MMD -MP -c $< -o $@

$(B)/cli/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_BASE) -MMD -MP -c $< -o $@

# The command looks for the library next to itself, then in LIBDIR where `make install` puts it.
$(B)/libdir: FORCE
	$(Q)mkdir -p $(B)
	$(Q)echo '$(LIBDIR)' | cmp -s - $@ || echo '$(LIBDIR)' > $@
$(B)/cli/src/cli/main.o: src/cli/main.c $(B)/flags $(B)/libdir
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_BASE) -DMF_LIBDIR=\"$(LIBDIR)\" -MMD -MP -c $< -o $@

$(LIB): $(CORE_OBJ) $(HOOK_OBJ) $(B)/memfence.map
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,--version-script=$(B)/memfence.map -Wl,-z,nodelete -Wl,-z,now \
	    -Wl,-soname,libmemfence.so.$(SOMAJOR) $(LDFLAGS) -o $@ $(CORE_OBJ) $(HOOK_OBJ) $(LIB_LDLIBS)

$(B)/libmfcore.a: $(UCORE_OBJ)
	$(Q)ar rcs $@ $^
$(B)/libmfcore-san.a: $(SCORE_OBJ)
	$(Q)ar rcs $@ $^

# The command links the parts of the core it needs (config, size, ledger, report readers).
$(CLI): $(CLI_OBJ) $(B)/libmfcore.a
	$(if $(filter 1,$(V)),,@echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/libmfcore.a $(LIB_LDLIBS) -lm

# pkg-config: the header only; the declarations are weak, so nothing is linked (a program that
# linked libmemfence would load the fence in every run).
$(B)/memfence.pc: memfence.pc.in $(B)/libdir
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

$(B)/tests/unit/%: tests/unit/%.c tests/unit/t.h $(B)/libmfcore.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -DMF_ARCHIVE -Itests/unit -o $@ $< $(B)/libmfcore.a $(LIB_LDLIBS) -lm

$(B)/tests/san/%: tests/unit/%.c tests/unit/t.h $(B)/libmfcore-san.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_BASE) -DMF_ARCHIVE $(SAN_FLAGS) -Itests/unit -o $@ $< $(B)/libmfcore-san.a $(LIB_LDLIBS) -lm

$(B)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -D_GNU_SOURCE -Iinclude -o $@ $< -lpthread -ldl -lm -rdynamic

$(B)/tests/progs/%: tests/progs/%.cc
	@mkdir -p $(dir $@)
	$(Q)c++ -O1 -g -Wall -Iinclude -o $@ $< -lpthread

$(GPUCHK_BIN): tests/gpu/fence_check.c tests/lib/fake_cudart.c tests/lib/fake_cuda.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -D_GNU_SOURCE -DMF_DOUBLE -Itests/lib -o $@ $< -lpthread -ldl -rdynamic

# The benchmarks' references (bare forwarding, the exact floor): optimised as memfence is, so
# that what they cost is the least such an interposer costs (tail calls, no frame).
$(B)/tests/lib/bench_%.so: tests/lib/bench_%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O2 -g -Wall -D_GNU_SOURCE -fPIC -fno-plt -ftls-model=initial-exec \
	    -shared -o $@ $< -lpthread -ldl

$(B)/tests/lib/%.so: tests/lib/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -D_GNU_SOURCE -fPIC -shared -Iinclude -Itests/lib -o $@ $< -lpthread -ldl

$(B)/tests/lib/%.so: tests/lib/%.cc
	@mkdir -p $(dir $@)
	$(Q)c++ -O1 -g -Wall -fPIC -shared -Iinclude -o $@ $<

$(B)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -D_GNU_SOURCE -o $@ $< -ldl

$(B)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 -O2 -g -Wall -D_GNU_SOURCE -Iinclude -o $@ $< -lpthread -ldl -lm

$(B)/bench/%: bench/%.cc
	@mkdir -p $(dir $@)
	$(Q)c++ -O2 -g -Wall -o $@ $< -lpthread

$(B)/man/memfence.1: man/memfence.1
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(B)/man/memfence.conf.5: man/memfence.conf.5.in $(CLI) src/config/config_keys.h
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  MAN     $@")
	$(Q)$(CLI) check --man-keys > $@.keys
	$(Q)sed -e '/^\.\\" @KEYS@$$/{r $@.keys' -e 'd}' $< > $@.tmp && rm -f $@.keys && mv $@.tmp $@

man: $(MAN_PAGES)

.SECONDARY: $(FCORE_OBJ)

$(B)/fuzz/core/%.o: %.c $(B)/flags
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(CFLAGS_BASE) -O1 -DMF_ARCHIVE -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(B)/fuzz/%: tests/fuzz/%.c $(FCORE_OBJ)
	@mkdir -p $(dir $@)
	$(if $(filter 1,$(V)),,@echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(CFLAGS_BASE) -O1 -DMF_ARCHIVE -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< \
	    $(FCORE_OBJ) $(LIB_LDLIBS) -lm

# The dictionary: every key name, as the command knows them.
$(B)/fuzz/config.dict: $(CLI)
	@mkdir -p $(dir $@)
	$(Q)MEMFENCE_CONFIG=none $(CLI) check --show 2>/dev/null | awk '!/^#/ { printf "\"%s\"\n", $$1 }' > $@
	$(Q)printf '"[global]"\n"[process "\n"[instance "\n"[group "\n"gpu_limit.0"\n" = "\n"%%"\n"G"\n' >> $@

fuzz: $(FUZZ_BIN) $(B)/fuzz/config.dict
	$(Q)for f in $(FUZZ_BIN); do n=$${f##*/fuzz_}; mkdir -p $(B)/fuzz/corpus-$$n; \
	    echo "  FUZZ    $$n for $(FUZZ_TIME)s (log: $(B)/fuzz/$$n.log)"; \
	    nice $$f -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
	        -dict=$(B)/fuzz/config.dict -print_final_stats=1 -artifact_prefix=$(B)/fuzz/$$n- \
	        $(B)/fuzz/corpus-$$n tests/fuzz/corpus/$$n > $(B)/fuzz/$$n.log 2>&1; rc=$$?; \
	    grep -E 'stat::number_of_executed_units|SUMMARY' $(B)/fuzz/$$n.log; \
	    [ $$rc -eq 0 ] || { tail -n 40 $(B)/fuzz/$$n.log; exit 1; }; \
	done

unit: $(UNIT_BIN) $(SAN_BIN)
test-bins: all $(UNIT_BIN) $(SAN_BIN) $(PROG_BIN) $(GPUCHK_BIN) $(PROGXX_BIN) $(TLIB_BIN) $(BENCH_BIN) $(BENCHXX_BIN) $(EX_BIN)

test: setup
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)tests/run

demo: setup
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)scripts/demo

bench: setup
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)bench/run

compat: setup
	$(Q)$(MAKE) --no-print-directory test-bins
	$(Q)tests/compat/run

# The library as libmemfence.so.VERSION with its soname link (what LD_PRELOAD and the command
# use) and the development link; the header, pkg-config file, man pages, example configuration
# and the Kubernetes and systemd examples.
DOC_FILES  := conf/memfence.conf conf/kubernetes/README.md conf/kubernetes/configmap.yaml \
              conf/kubernetes/pod.yaml $(wildcard conf/systemd/*) conf/grafana/memfence-dashboard.json
install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/kubernetes \
	    $(DESTDIR)$(DOCDIR)/systemd $(DESTDIR)$(DOCDIR)/grafana
	install -m 0644 $(LIB) $(DESTDIR)$(LIBDIR)/libmemfence.so.$(VERSION)
	ln -sf libmemfence.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmemfence.so.$(SOMAJOR)
	ln -sf libmemfence.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libmemfence.so
	install -m 0755 $(CLI) $(DESTDIR)$(BINDIR)/
	install -m 0644 include/memfence.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 0644 $(B)/memfence.pc $(DESTDIR)$(PCDIR)/
	install -m 0644 $(B)/man/memfence.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(B)/man/memfence.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 conf/memfence.conf $(DESTDIR)$(DOCDIR)/memfence.conf.example
	install -m 0644 $(filter conf/kubernetes/%,$(DOC_FILES)) $(DESTDIR)$(DOCDIR)/kubernetes/
	install -m 0644 $(filter conf/systemd/%,$(DOC_FILES)) $(DESTDIR)$(DOCDIR)/systemd/
	install -m 0644 $(filter conf/grafana/%,$(DOC_FILES)) $(DESTDIR)$(DOCDIR)/grafana/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmemfence.so $(DESTDIR)$(LIBDIR)/libmemfence.so.$(SOMAJOR) \
	    $(DESTDIR)$(LIBDIR)/libmemfence.so.$(VERSION) $(DESTDIR)$(BINDIR)/memfence \
	    $(DESTDIR)$(INCLUDEDIR)/memfence.h $(DESTDIR)$(PCDIR)/memfence.pc \
	    $(DESTDIR)$(MANDIR)/man1/memfence.1 $(DESTDIR)$(MANDIR)/man5/memfence.conf.5 \
	    $(DESTDIR)$(DOCDIR)/memfence.conf.example \
	    $(patsubst conf/%,$(DESTDIR)$(DOCDIR)/%,$(filter-out conf/memfence.conf,$(DOC_FILES)))
	-rmdir $(DESTDIR)$(DOCDIR)/kubernetes $(DESTDIR)$(DOCDIR)/systemd $(DESTDIR)$(DOCDIR)/grafana \
	    $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(PCDIR) 2>/dev/null

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
