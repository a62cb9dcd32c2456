# latchkey: one non-recursive Makefile. Everything built goes to $(B).
#   make            build every program, library and the Kea hook
#   make check      unit + integration tests (SANITIZE=1 for ASan+UBSan; or make check-asan)
#   make bench      benchmarks, writes BENCHMARKS.md
#   make fuzz       every libFuzzer target for FUZZ_SECONDS each
#   make demo       install deps, build, run the five-minute tour
#   make deps       install the Debian packages (root)
#   make install    install (PREFIX=/usr/local, DESTDIR=; no root needed with DESTDIR)
#   make uninstall  remove what install put there (same PREFIX and DESTDIR)
#   make deb        build the Debian packages into $(B)/deb (contrib/debian/)

B        ?= build
CC       ?= cc
CXX      ?= c++
SANITIZE ?= 0
FUZZ_SECONDS ?= 20

# Each program links only the packages it uses (the device agent has no SQLite and no
# libpq: the registry's backends are the daemon's and the admin tool's).
PKGS     := openssl libevent libevent_openssl libcurl sqlite3 libpq jansson avahi-client
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# certs/keyref.c speaks PKCS#11 to a token's module (dlopen): p11-kit's pkcs11.h only.
PKG_CFLAGS += $(shell pkg-config --cflags p11-kit-1 2>/dev/null)
pkglibs   = $(shell pkg-config --libs $(1) 2>/dev/null)
PKG_LIBS   := $(call pkglibs,$(PKGS))
LIBS_latchkeyd   := $(call pkglibs,openssl libevent libevent_openssl libcurl sqlite3 libpq jansson avahi-client libsystemd)
LIBS_latchkey    := $(call pkglibs,openssl libevent libcurl jansson avahi-client)
LIBS_latchkeyctl := $(call pkglibs,openssl sqlite3 libpq jansson)

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -I. $(PKG_CFLAGS) -fPIC
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++17 -Wall -Wextra -Werror -Wno-unused-parameter -I. -I/usr/include/kea -fPIC
LDLIBS   += -lm -lpthread

ifeq ($(SANITIZE),1)
B        := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS   += $(SANFLAGS) -O1
CXXFLAGS += $(SANFLAGS) -O1
LDFLAGS  += $(SANFLAGS)
endif

# One library per folder (a folder is a role: see README.md, Layout); each program links
# its own folder's objects and the libraries it may use (tests/layout.sh keeps that true).
PROG_MAINS := enroll/latchkeyd/latchkeyd.c enroll/latchkey/latchkey.c \
	      enroll/latchkeyctl/latchkeyctl.c
libsrc      = $(filter-out $(PROG_MAINS),$(wildcard $(1)/*.c))
CERTS_SRC  := $(call libsrc,certs)
MDNS_SRC   := $(call libsrc,mdns)
HOOKC_SRC  := $(call libsrc,dhcp-hook)
HOOKCC_SRC := $(wildcard dhcp-hook/*.cc)
ENROLL_DIRS := common store latch agent latchkeyd latchkey latchkeyctl
ENROLL_SRC := $(foreach d,$(ENROLL_DIRS),$(call libsrc,enroll/$(d)))

obj = $(patsubst %.cc,$(B)/obj/%.o,$(patsubst %.c,$(B)/obj/%.o,$(1)))
L := $(B)/lib
$(foreach d,$(ENROLL_DIRS),$(eval $(L)/lib$(d).a: $(call obj,$(call libsrc,enroll/$(d)))))
$(L)/libcerts.a: $(call obj,$(CERTS_SRC))
$(L)/libmdns.a: $(call obj,$(MDNS_SRC))
$(L)/libdhcpopt.a: $(call obj,$(HOOKC_SRC))
$(L)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# What each program may use, most dependent first (static link order).
USES_latchkeyd   := latchkeyd store latch common certs mdns
USES_latchkey    := latchkey agent latch common certs mdns dhcpopt
USES_latchkeyctl := latchkeyctl store latch common certs
ALL_LIBS := $(foreach d,latchkeyd latchkey latchkeyctl agent store latch common certs mdns dhcpopt,$(L)/lib$(d).a)
PROGS := $(B)/latchkeyd $(B)/latchkey $(B)/latchkeyctl
KEA_HOOK := $(if $(HOOKCC_SRC),$(if $(wildcard /usr/include/kea/hooks/hooks.h),$(B)/liblatchkey_kea.so))

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(B)/tools/%,$(TOOL_SRC))
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(B)/bench/%,$(BENCH_SRC))

all: $(PROGS) $(KEA_HOOK) $(UNIT_BINS) $(TOOL_BINS) $(BENCH_BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

.SECONDEXPANSION:
$(PROGS): $(B)/%: $(B)/obj/enroll/$$*/$$*.o $$(foreach d,$$(USES_$$*),$(L)/lib$$(d).a)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_$*) $(LDLIBS)

# The Kea hook is loaded by an uninstrumented kea-dhcp4: never build it with sanitizers
# (their runtime must come first in a process), so it has objects of its own.
HOOK_CFLAGS   := $(filter-out $(SANFLAGS),$(CFLAGS))
HOOK_CXXFLAGS := $(filter-out $(SANFLAGS),$(CXXFLAGS))
$(B)/hookobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(HOOK_CFLAGS) -MMD -MP -c $< -o $@
$(B)/hookobj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(HOOK_CXXFLAGS) -MMD -MP -c $< -o $@
# The hook also carries the registry's SQL driver (the target rule and its naming).
HOOK_STORE_SRC := enroll/store/db.c enroll/common/err.c
$(B)/liblatchkey_kea.so: $(patsubst %.cc,$(B)/hookobj/%.o,$(HOOKCC_SRC)) \
    $(patsubst %.c,$(B)/hookobj/%.o,$(HOOKC_SRC) $(HOOK_STORE_SRC))
	$(CXX) -shared -o $@ $^ -lsqlite3 -lpq -lkea-dhcpsrv -lkea-dhcp++ -lkea-hooks -lkea-log -lkea-cc -lkea-util -lkea-exceptions

# Every unit test links tests/unit/testutil.c, the fixtures several of them share.
$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/obj/tests/unit/testutil.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(B)/obj/tests/unit/testutil.o -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(PKG_LIBS) $(LDLIBS) -lcmocka

# Test clients (tests/tools/): built with the tests, never installed.
$(B)/tools/%: $(B)/obj/tests/tools/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(PKG_LIBS) $(LDLIBS)

$(B)/bench/%: $(B)/obj/tests/bench/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(PKG_LIBS) $(LDLIBS)

# Fuzz targets: clang + libFuzzer, ASan+UBSan, own build dir.
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_B    := build-fuzz
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ_B)/%,$(FUZZ_SRC))
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined
FUZZ_LIBSRC := $(CERTS_SRC) $(ENROLL_SRC) $(MDNS_SRC) $(HOOKC_SRC)
$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
$(FUZZ_B)/libproj.a: $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(FUZZ_LIBSRC))
	rm -f $@ && ar rcs $@ $^
$(FUZZ_B)/%: $(FUZZ_B)/obj/tests/fuzz/%.o $(FUZZ_B)/libproj.a
	clang $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

fuzz:
	$(MAKE) $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p $(FUZZ_B)/corpus/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 $(FUZZ_B)/corpus/$$n tests/fuzz/corpus/$$n >$(FUZZ_B)/$$n.log 2>&1 \
	    || { tail -30 $(FUZZ_B)/$$n.log; exit 1; }; done

# On a fresh machine as root, `make check` installs what it needs first (quiet when present).
check: | depsifroot
	$(MAKE) all
	B=$(B) SANITIZE=$(SANITIZE) tests/run.sh

depsifroot:
	@if [ "$$(id -u)" = 0 ]; then sh contrib/install-deps.sh; fi

check-asan:
	$(MAKE) SANITIZE=1 check

bench: all
	B=$(B) tests/bench/run.sh

deps:
	sh contrib/install-deps.sh

demo: deps
	$(MAKE) all
	B=$(B) sh contrib/demo.sh

# Installation. PREFIX and DESTDIR as usual; every directory below may be overridden.
# The units name the programs by their installed path: /usr/bin and /usr/sbin in
# contrib/systemd/, rewritten to BINDIR and SBINDIR here. The Kea hook goes where Kea
# looks for hooks (Debian: /usr/lib/MULTIARCH/kea/hooks), whatever PREFIX, when built.
PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
DATADIR  ?= $(PREFIX)/share/latchkey
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
MULTIARCH ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -print-multiarch 2>/dev/null)
KEA_HOOKS_DIR ?= $(if $(MULTIARCH),/usr/lib/$(MULTIARCH)/kea/hooks,$(PREFIX)/lib/kea/hooks)
UNITS    := latchkeyd.service latchkey-onboard.service latchkey-renew.service latchkey-renew.timer \
	    latchkey-report.service latchkey-report.timer
INSTALL  ?= install

install: $(PROGS) $(KEA_HOOK)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSTEMDUNITDIR) \
	    $(DESTDIR)$(DATADIR)/dhcp $(DESTDIR)$(DATADIR)/kea
	$(INSTALL) -m 0755 $(B)/latchkey $(B)/latchkeyctl $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0755 $(B)/latchkeyd $(DESTDIR)$(SBINDIR)/
	$(INSTALL) -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	for u in $(UNITS); do \
	  sed -e 's#/usr/bin/latchkey\b#$(BINDIR)/latchkey#g' \
	      -e 's#/usr/sbin/latchkeyd\b#$(SBINDIR)/latchkeyd#g' contrib/systemd/$$u \
	      >$(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp && chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp && \
	  mv $(DESTDIR)$(SYSTEMDUNITDIR)/$$u.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/$$u || exit 1; done
	$(INSTALL) -m 0755 contrib/dhcp/udhcpc-latchkey.sh $(DESTDIR)$(DATADIR)/dhcp/
	$(INSTALL) -m 0644 contrib/dhcp/dhclient-exit-hook.sh contrib/dhcp/dhclient-latchkey.conf \
	    contrib/dhcp/dhcpcd-latchkey.sh $(DESTDIR)$(DATADIR)/dhcp/
	$(INSTALL) -m 0644 contrib/kea/*.conf $(DESTDIR)$(DATADIR)/kea/
	if [ -f $(B)/liblatchkey_kea.so ]; then \
	  $(INSTALL) -d $(DESTDIR)$(KEA_HOOKS_DIR) && \
	  $(INSTALL) -m 0644 $(B)/liblatchkey_kea.so $(DESTDIR)$(KEA_HOOKS_DIR)/; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/latchkey $(DESTDIR)$(BINDIR)/latchkeyctl \
	    $(DESTDIR)$(SBINDIR)/latchkeyd $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(wildcard man/*.5))) \
	    $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(UNITS)) $(DESTDIR)$(KEA_HOOKS_DIR)/liblatchkey_kea.so
	rm -rf $(DESTDIR)$(DATADIR)

# The Debian packages (latchkey, latchkey-kea-hook), built from a copy of the tree in a
# temporary directory; the version is LATCHKEY_VERSION (enroll/common/version.h).
DEB_OUT ?= $(B)/deb
deb:
	sh contrib/debian/build-deb.sh $(DEB_OUT)

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all check check-asan bench fuzz deps depsifroot demo clean install uninstall deb
.SECONDARY:
-include $(shell find $(B) build-asan $(FUZZ_B) -name '*.d' 2>/dev/null)
