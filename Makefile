# dynalloc build.  Targets:
#   make            build/libdynalloc.{so,a}, build/libdynalloc-prefix.{so,a},
#                   build/dynalloc (launcher), build/dynalloc.pc
#   make test       every test (tests/tests.mk), ends with "N passed, N failed"
#   make bench      benchmark suite (bench/bench.mk)
#   make install PREFIX=/usr/local   (DESTDIR honoured; MANDIR=PREFIX/share/man)
#   make deb        build/dynalloc_VERSION_ARCH.deb (scripts/make-deb.sh)
# Variants: make BUILD=build-debug DA_DEBUG=3  |  make BUILD=build-tsan SANITIZE=thread
# Knobs (the only build-time options):
#   DA_DEBUG=0..3    0 release, 1 misuse checks, 2 internal asserts, 3 full validity walks
#   SANITIZE=…       passed to -fsanitize= (prefix libraries only make sense there)
#   CC=clang         any C11 compiler with GNU extensions

CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local
MANDIR   ?= $(PREFIX)/share/man
VERSION  := 0.1
DA_DEBUG ?= 0
OPT      ?= -O2
SANITIZE ?=

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CORE_CFLAGS := -std=gnu11 -fno-semantic-interposition $(OPT) -g -fPIC -fvisibility=hidden -fno-builtin-malloc \
               -fno-plt -ftls-model=initial-exec -pthread $(WARN) -DDA_DEBUG=$(DA_DEBUG) -Iinclude -Isrc
ifneq ($(SANITIZE),)
CORE_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif
# memcheck's client requests (src/vg.c) need valgrind's headers (Debian: valgrind)
ifeq ($(wildcard /usr/include/valgrind/memcheck.h),)
CORE_CFLAGS += -DDA_NO_VALGRIND
endif
CORE_CFLAGS += $(EXTRA_CFLAGS)

CORE_SRC := $(filter-out src/override.c src/exit.c,$(wildcard src/*.c))
CORE_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CORE_SRC))
OVR_OBJ  := $(BUILD)/obj/override.o
# _exit and _Exit (the exit report of programs that leave through them): only
# in the preloaded library, where they interpose on the C library's.
EXIT_OBJ := $(BUILD)/obj/exit.o
# malloc and free are aliases of da_malloc and da_free (no extra jump): the
# standard libraries take alloc.c and free.c compiled once more with them.
STD_SRC  := src/alloc.c src/free.c
STD_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/std/%.o,$(STD_SRC))
CORE_STD_OBJ := $(filter-out $(patsubst src/%.c,$(BUILD)/obj/%.o,$(STD_SRC)),$(CORE_OBJ)) $(STD_OBJ)
HDRS     := $(wildcard src/*.h) include/dynalloc.h

# The unwinder of the guarded samples' stacks (libgcc's _Unwind_Backtrace) is
# linked in and kept private, so that loading dynalloc loads no libgcc_s and
# a C++ program's exceptions keep their own unwinder.
UNWIND_LDFLAGS := -static-libgcc -Wl,--exclude-libs,ALL

LIBS := $(BUILD)/libdynalloc.so $(BUILD)/libdynalloc.a \
        $(BUILD)/libdynalloc-prefix.so $(BUILD)/libdynalloc-prefix.a

.PHONY: all lib test test-deps lint bench install uninstall deb clean FORCE
all: lib $(BUILD)/dynalloc $(BUILD)/dynalloc.pc
lib: $(LIBS)

# The objects follow the flags as well as the sources: valgrind's headers, installed
# by `make test` after a first `make`, change them (-DDA_NO_VALGRIND goes away).
FLAGS_STAMP := $(BUILD)/obj/flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CC) $(CORE_CFLAGS)' | cmp -s - $@ 2>/dev/null || echo '$(CC) $(CORE_CFLAGS)' > $@
FORCE:

$(BUILD)/obj/%.o: src/%.c $(HDRS) Makefile $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c $< -o $@
$(BUILD)/obj/std/%.o: src/%.c $(HDRS) Makefile $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -DDA_STD_NAMES -c $< -o $@

$(BUILD)/libdynalloc.so: $(CORE_STD_OBJ) $(OVR_OBJ) $(EXIT_OBJ)
	$(CC) $(CORE_CFLAGS) -shared $(UNWIND_LDFLAGS) -Wl,-soname,libdynalloc.so -Wl,-z,nodelete -Wl,-Bsymbolic-functions $^ -o $@
$(BUILD)/libdynalloc-prefix.so: $(CORE_OBJ)
	$(CC) $(CORE_CFLAGS) -shared $(UNWIND_LDFLAGS) -Wl,-soname,libdynalloc-prefix.so $^ -o $@
# The static archives are single relocatable objects, so that linking any
# allocator symbol pulls in the whole allocator (no half-overridden malloc).
$(BUILD)/libdynalloc.a: $(CORE_STD_OBJ) $(OVR_OBJ)
	$(CC) -r -nostdlib $^ -o $(BUILD)/obj/dynalloc-all.o
	rm -f $@ && ar rcs $@ $(BUILD)/obj/dynalloc-all.o
$(BUILD)/libdynalloc-prefix.a: $(CORE_OBJ)
	$(CC) -r -nostdlib $^ -o $(BUILD)/obj/dynalloc-prefix-all.o
	rm -f $@ && ar rcs $@ $(BUILD)/obj/dynalloc-prefix-all.o

$(BUILD)/dynalloc: scripts/dynalloc.in Makefile
	@mkdir -p $(BUILD)
	sed -e 's|@LIBDIR@|$(abspath $(BUILD))|' -e 's|@SUPPDIR@|$(abspath scripts)|' $< > $@ && chmod +x $@
$(BUILD)/dynalloc.pc: scripts/dynalloc.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# The files that name the prefix (pkg-config, the launcher) are written for the
# PREFIX of this command, whatever the build was made with.
CMAKEDIR = $(PREFIX)/lib/cmake/dynalloc
install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(CMAKEDIR) \
	           $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(PREFIX)/share/dynalloc
	install -m 644 $(BUILD)/libdynalloc.a $(BUILD)/libdynalloc-prefix.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libdynalloc.so $(BUILD)/libdynalloc-prefix.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/dynalloc.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@LIBDIR@|$(PREFIX)/lib|' -e 's|@SUPPDIR@|$(PREFIX)/share/dynalloc|' scripts/dynalloc.in \
	    > $(DESTDIR)$(PREFIX)/bin/dynalloc
	install -m 644 scripts/valgrind.supp $(DESTDIR)$(PREFIX)/share/dynalloc/
	chmod 755 $(DESTDIR)$(PREFIX)/bin/dynalloc
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' scripts/dynalloc.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/dynalloc.pc
	install -m 644 scripts/cmake/dynalloc-config.cmake $(DESTDIR)$(CMAKEDIR)/
	sed -e 's|@VERSION@|$(VERSION)|' scripts/cmake/dynalloc-config-version.cmake.in \
	    > $(DESTDIR)$(CMAKEDIR)/dynalloc-config-version.cmake
	install -m 644 man/dynalloc.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/dynalloc.3 $(DESTDIR)$(MANDIR)/man3/
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libdynalloc.so $(DESTDIR)$(PREFIX)/lib/libdynalloc.a \
	      $(DESTDIR)$(PREFIX)/lib/libdynalloc-prefix.so $(DESTDIR)$(PREFIX)/lib/libdynalloc-prefix.a \
	      $(DESTDIR)$(PREFIX)/include/dynalloc.h \
	      $(DESTDIR)$(PREFIX)/bin/dynalloc $(DESTDIR)$(PREFIX)/lib/pkgconfig/dynalloc.pc \
	      $(DESTDIR)$(CMAKEDIR)/dynalloc-config.cmake $(DESTDIR)$(CMAKEDIR)/dynalloc-config-version.cmake \
	      $(DESTDIR)$(MANDIR)/man1/dynalloc.1 $(DESTDIR)$(MANDIR)/man3/dynalloc.3 \
	      $(DESTDIR)$(PREFIX)/share/dynalloc/valgrind.supp
	-rmdir $(DESTDIR)$(CMAKEDIR) $(DESTDIR)$(PREFIX)/share/dynalloc 2>/dev/null

deb: all
	BUILD=$(BUILD) VERSION=$(VERSION) sh scripts/make-deb.sh

clean:
	rm -rf build build-*

# Static analysis of the allocator's sources (cppcheck and clang-tidy).
lint:
	sh scripts/lint.sh

# The packages the tests need (tests/packages.txt …), installed when root.
test: test-deps
test-deps:
	@if [ "$$(id -u)" = 0 ]; then sh scripts/install-deps.sh; \
	 else echo "not root: make sure the packages in tests/packages.txt are installed"; fi

-include tests/tests.mk
-include tests/compat/compat.mk
-include tests/fuzz/fuzz.mk
-include bench/bench.mk
