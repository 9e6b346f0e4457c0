# forgea_audit: PGXS build of a C++17 PostgreSQL extension.
EXTENSION = forgea_audit
MODULE_big = forgea_audit
# Every released install script and every upgrade step (forgea_audit--A--B.sql).
DATA = $(wildcard forgea_audit--*.sql)

# The pure C++ core: no PostgreSQL header may reach it.  Its objects are compiled without the
# server's include path (see CORE_CPPFLAGS below), so an #include of one fails the build.
CORE_OBJS = src/core/canonical_json_bytes.o src/core/chain_record.o src/core/push_rules.o src/core/base64.o \
            src/core/chain_verifier.o src/core/chain_reorder.o src/core/checkpoint_note.o src/core/ed25519.o \
            src/core/redaction.o src/core/merkle_tree.o src/core/sha256.o

# Core units only the offline tools use (tools/forgea_audit_verify, _publish, _witness, the fuzzers):
# the strict JSON reader, the CSV reader, the note signature rule, the receipt check and both sides
# of tlog-witness.  Pure like the rest of the core and unit-tested with it, but not linked into the
# extension, which never calls them.
TOOL_CORE_OBJS = src/core/json_text.o src/core/csv_reader.o src/core/note_signature.o src/core/receipt_check.o \
                 src/core/witness.o

# The PostgreSQL side, by stage.  STAGES is the one place the order is written (docs/layout.md
# tells it in words): lowest first, each folder under src/ may include its own files and those of
# the folders before it, never one after it; src/forgea_audit.cpp (_PG_init, which wires them all)
# stands above every folder.  core/ is the pure C++; pg/ the PostgreSQL boundary and shared parts;
# json/ encodes rows as canonical JSON; merkle/ is the transparency log (its pure tree is
# core/merkle_tree, which the offline tools link); chain/ appends, verifies and checkpoints the hash
# chains, over json/ and merkle/; push/ enters a push; worker/ runs retention, checkpoints and
# verification in the background.  `make` fails on an include that goes upward or closes a circle
# (check-includes below).
STAGES = core pg json merkle chain push worker
TOP_OBJS    = src/forgea_audit.o
PUSH_OBJS   = src/push/record_push.o src/push/payload_jsonb.o src/push/payload_json_text.o \
              src/push/push_event_builder.o src/push/session_binding.o
CHAIN_OBJS  = src/chain/chain_append.o src/chain/chain_heads.o src/chain/chain_verify.o src/chain/chain_verify_increment.o src/chain/chain_checkpoint.o \
              src/chain/chain_write_guard.o
MERKLE_OBJS = src/merkle/merkle_integrate.o src/merkle/merkle_proofs.o src/merkle/merkle_check.o src/merkle/merkle_restore.o \
              src/merkle/merkle_integrator.o
JSON_OBJS   = src/json/canonical_jsonb.o src/json/canonical_json_text.o src/json/canonical_row.o
WORKER_OBJS = src/worker/launcher.o src/worker/worker_loop.o src/worker/retention_archive.o src/worker/retention_settings.o
PG_OBJS     = src/pg/settings.o src/pg/datum_read.o src/pg/sha256.o src/pg/sql_version.o src/pg/spi_plan.o src/pg/progress.o src/pg/key_lookup.o src/pg/lock_wait.o src/pg/worker_tx.o src/pg/huge_pages.o

OBJS = $(CORE_OBJS) $(PG_OBJS) $(JSON_OBJS) $(MERKLE_OBJS) $(CHAIN_OBJS) $(PUSH_OBJS) $(WORKER_OBJS) $(TOP_OBJS)

# `make installcheck` (after `make install`, against the server the PG* variables name): the
# pg_regress suite (one file per concern under sql/, expected output under expected/), then every
# pgTAP file under test/pgtap/ through pg_prove, each in a database test/lib/prepare_db.sh makes
# (PGTAP_FILES picks some).  Both run even if the first fails; the target fails if either did.
# PGXS's own installcheck would run pg_regress only.
NO_INSTALLCHECK = 1
PGTAP_FILES ?= $(wildcard test/pgtap/*.sql)
REGRESS = install record_push bad_input append append_only verify_chain retention record_push_json

PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Wno-unused-parameter -Wno-register -Wno-missing-field-initializers \
              -fno-omit-frame-pointer -I$(srcdir)/src
# PGXS links with gcc: bring in the C++ runtime explicitly.
SHLIB_LINK = -lstdc++ -lcrypto

# Debian's server is built --with-llvm, and PGXS would also compile every object to LLVM bitcode
# with a clang invocation that ignores PG_CXXFLAGS (so C++17 and -Wno-register are lost and the
# build fails).  The bitcode only serves JIT inlining of our functions into queries, which buys
# nothing for functions that do SPI work: switch it off.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The core is compiled with no PostgreSQL include path at all: a PostgreSQL header reaching it
# (directly or through another header) is a build error, not a review comment.
$(CORE_OBJS) $(TOOL_CORE_OBJS): override CPPFLAGS := -I$(srcdir)/src/core

# Part of every build: an #include that goes to a later stage (STAGES above) or closes a circle
# fails it, each offending include listed (test/lib/include_stages.sh).
all: check-includes
check-includes:
	@bash $(srcdir)/test/lib/include_stages.sh $(STAGES)

.PHONY: check-includes

installcheck: submake
	@rc=0; \
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS) || rc=1; \
	bash test/lib/pgtap_installcheck.sh $(PGTAP_FILES) || rc=1; \
	exit $$rc

installcheck-regress: submake
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-pgtap:
	bash test/lib/pgtap_installcheck.sh $(PGTAP_FILES)

.PHONY: installcheck installcheck-regress installcheck-pgtap

# Rebuild an object when a header it includes changes.
override CXXFLAGS += -MMD -MP
-include $(OBJS:.o=.d)

# The canonical-JSON test oracle (test/modules/forgea_audit_test_oracle.cpp: the writer before
# issue 23, which test/pgtap/canonical_json_bytes.sql compares the shipped one with).  Built by
# `make`, like PostgreSQL's regress.so, and never installed: `make install` and the Debian package
# carry only forgea_audit.so; the test loads the module by its path (FA_TEST_ORACLE, set by
# test/lib/pgtap_installcheck.sh, which builds it if it is missing).  Self-contained: the two
# pieces of the extension it calls are linked in.
TEST_ORACLE = test/modules/forgea_audit_test_oracle$(DLSUFFIX)
TEST_ORACLE_OBJS = test/modules/forgea_audit_test_oracle.o src/pg/datum_read.o src/core/canonical_json_bytes.o
all: $(TEST_ORACLE)
test-oracle: $(TEST_ORACLE)
$(TEST_ORACLE): $(TEST_ORACLE_OBJS)
	$(CXX) $(CXXFLAGS) -shared -o $@ $(TEST_ORACLE_OBJS) $(LDFLAGS) $(LDFLAGS_SL) -lstdc++
-include test/modules/forgea_audit_test_oracle.d

.PHONY: test-oracle

# Unit tests of the pure C++ core (no PostgreSQL linked in).
CORE_SRCS = $(CORE_OBJS:.o=.cpp) $(TOOL_CORE_OBJS:.o=.cpp)
UNIT_SRCS = test/unit/core_tests.cpp test/unit/merkle_tests.cpp test/unit/redaction_tests.cpp test/unit/offline_tests.cpp test/unit/witness_tests.cpp
test/unit/core_tests: $(UNIT_SRCS) $(CORE_SRCS) src/core/*.hpp test/unit/*.hpp
	$(CXX) -std=c++17 -O1 -g -Wall -Wextra -fsanitize=address,undefined -Isrc -o $@ $(UNIT_SRCS) $(CORE_SRCS) -lgtest -lgtest_main -lcrypto -pthread

unit: test/unit/core_tests
	./test/unit/core_tests

.PHONY: unit

# libFuzzer over the pure core (test/fuzz/run.sh, clang): every test/fuzz/fuzz_*.cpp for
# FA_FUZZ_SECONDS each (the suite runs 20 s; this long run 600 s unless set).
fuzz:
	FA_FUZZ_SECONDS=$${FA_FUZZ_SECONDS:-600} bash test/fuzz/run.sh

.PHONY: fuzz

# The offline verifier (tools/forgea_audit_verify.cpp): the pure core and OpenSSL, no PostgreSQL.
tools/forgea_audit_verify: tools/forgea_audit_verify.cpp $(CORE_SRCS) src/core/*.hpp
	g++ -std=c++17 -O2 -Wall -Wextra $(TOOL_CPPFLAGS) $(TOOL_CXXFLAGS) -Isrc -o $@ tools/forgea_audit_verify.cpp $(CORE_SRCS) $(TOOL_LDFLAGS) -lcrypto

verifier: tools/forgea_audit_verify

# The publisher (tools/forgea_audit_publish.cpp, docs/publishing.md): the pure core, libpq, libcurl
# (witnesses, over HTTPS too) and OpenSSL.
PQ_INCLUDEDIR := $(shell $(PG_CONFIG) --includedir)
tools/forgea_audit_publish: tools/forgea_audit_publish.cpp $(CORE_SRCS) src/core/*.hpp
	g++ -std=c++17 -O2 -Wall -Wextra $(TOOL_CPPFLAGS) $(TOOL_CXXFLAGS) -Isrc -I$(PQ_INCLUDEDIR) -o $@ tools/forgea_audit_publish.cpp $(CORE_SRCS) $(TOOL_LDFLAGS) -lpq -lcurl -lcrypto

# The witness (tools/forgea_audit_witness.cpp, docs/witnesses.md): the pure core and OpenSSL.
tools/forgea_audit_witness: tools/forgea_audit_witness.cpp $(CORE_SRCS) src/core/*.hpp
	g++ -std=c++17 -O2 -Wall -Wextra $(TOOL_CPPFLAGS) $(TOOL_CXXFLAGS) -Isrc -o $@ tools/forgea_audit_witness.cpp $(CORE_SRCS) $(TOOL_LDFLAGS) -lcrypto

# The command-line tools, none of which links PostgreSQL: `make tools` builds them, `make
# install-tools` installs them into $(DESTDIR)$(TOOLS_BINDIR) (/usr/local/bin unless set; the Debian
# package sets /usr/bin), each script without its .sh (tools/export_audit.sh as forgea_audit_export),
# and their manual pages (each TOOLS entry's .1, and tools/forgea_audit_export.1) into $(DESTDIR)$(TOOLS_MANDIR)/man1.
# `make install` does not: it installs for one PostgreSQL version, the tools serve any.
# TOOL_CPPFLAGS, TOOL_CXXFLAGS and TOOL_LDFLAGS add flags (the package passes dpkg-buildflags').
TOOLS = tools/forgea_audit_verify tools/forgea_audit_publish tools/forgea_audit_witness
TOOLS_BINDIR ?= /usr/local/bin
TOOLS_MANDIR ?= /usr/local/share/man

tools: $(TOOLS)

install-tools: tools
	install -d '$(DESTDIR)$(TOOLS_BINDIR)'
	install -m 755 $(TOOLS) '$(DESTDIR)$(TOOLS_BINDIR)/'
	install -m 755 tools/export_audit.sh '$(DESTDIR)$(TOOLS_BINDIR)/forgea_audit_export'
	install -d '$(DESTDIR)$(TOOLS_MANDIR)/man1'
	install -m 644 $(TOOLS:=.1) tools/forgea_audit_export.1 '$(DESTDIR)$(TOOLS_MANDIR)/man1/'

.PHONY: verifier tools install-tools
EXTRA_CLEAN = test/unit/core_tests $(OBJS:.o=.d) $(TOOLS) $(TEST_ORACLE) $(TEST_ORACLE_OBJS:.o=.d) test/modules/forgea_audit_test_oracle.o

# The C++/PostgreSQL boundary (src/pg/boundary.hpp), checked rather than trusted:
#  1. every C symbol PostgreSQL calls is defined through boundary.hpp's macros (FA_FUNCTION,
#     FA_WORKER_MAIN, FA_MODULE_INIT), which run it under the guard: a hand-written
#     PG_FUNCTION_INFO_V1 or extern "C" definition anywhere else fails;
#  2. a core header compiled after postgres.h stops the build with src/core/pure_cpp.hpp's #error
#     (probe: postgres.h, then a core header), while the same header first compiles; every core
#     header includes pure_cpp.hpp and is listed in src/pg/core_headers.hpp;
#  3. every column of a row and every argument of a call is read through src/pg/datum_read.hpp
#     (NULL flag first, then the value; the type checked): a raw read anywhere else fails.
BOUNDARY_SRCS = $(filter-out src/pg/boundary.hpp,$(wildcard src/*.cpp src/*/*.cpp src/*/*.hpp))
READ_SRCS = $(filter-out src/pg/datum_read.hpp,$(wildcard src/*.cpp src/*/*.cpp src/*/*.hpp))
RAW_READS = heap_getattr|fastgetattr|SPI_getbinval|SPI_getvalue|PG_GETARG_|PG_ARGISNULL|heap_deform_tuple|slot_getallattrs|slot_getattr|tts_values|tts_isnull|GetAttributeByN
check-boundary:
	@if grep -n -E 'PG_FUNCTION_INFO_V1|^ *extern "C" +[A-Za-z_]' $(BOUNDARY_SRCS); then \
	    echo "check-boundary: entry points above bypass src/pg/boundary.hpp's macros" >&2; exit 1; fi
	@if grep -n -E '$(RAW_READS)' $(READ_SRCS); then \
	    echo "check-boundary: the reads above bypass src/pg/datum_read.hpp (NULL and type checks)" >&2; exit 1; fi
	@printf '#include "postgres.h"\n#include "core/hex.hpp"\n' | \
	    $(CXX) -std=c++17 -fsyntax-only -I$(srcdir)/src -I$(includedir_server) -x c++ - 2>&1 | \
	    grep -q 'pure_cpp.hpp.*#error' || { echo "check-boundary: a core header was accepted after postgres.h" >&2; exit 1; }
	@printf '#include "core/hex.hpp"\n#include "postgres.h"\n' | \
	    $(CXX) -std=c++17 -fsyntax-only -I$(srcdir)/src -I$(includedir_server) -x c++ - || \
	    { echo "check-boundary: the probe does not compile even in the right order" >&2; exit 1; }
	@for h in $(filter-out src/core/pure_cpp.hpp,$(wildcard src/core/*.hpp)); do \
	    grep -q '#include "pure_cpp.hpp"' $$h || { echo "check-boundary: $$h does not include pure_cpp.hpp" >&2; exit 1; }; \
	    grep -q "#include \"$${h#src/}\"" src/pg/core_headers.hpp || \
	        { echo "check-boundary: $$h is not listed in src/pg/core_headers.hpp" >&2; exit 1; }; done
	@bash $(srcdir)/test/lib/include_cycles.sh
	@echo "check-boundary: ok"

.PHONY: check-boundary
