# forgea_audit: PGXS build of a C++17 PostgreSQL extension.
EXTENSION = forgea_audit
MODULE_big = forgea_audit
DATA = forgea_audit--0.1.0.sql

CORE_OBJS = src/core/canonical_json.o src/core/chain_record.o src/core/push_rules.o src/core/base64.o \
            src/core/chain_verifier.o src/core/chain_reorder.o src/core/checkpoint.o src/core/ed25519.o src/core/redaction.o
OBJS = $(CORE_OBJS) \
       src/module.o src/jsonb_canonical.o src/write_guard.o src/audit_chain.o \
       src/push_payload.o src/push_payload_jsonb.o src/push_payload_json.o src/json_canonical.o \
       src/session_binding.o src/record_push.o src/verify_chain.o \
       src/retention_worker.o src/checkpoint.o src/row_canonical.o

# pg_regress: one file per concern under sql/, expected output under expected/.
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

# Rebuild an object when a header it includes changes.
override CXXFLAGS += -MMD -MP
-include $(OBJS:.o=.d)

# Unit tests of the pure C++ core (no PostgreSQL linked in).
CORE_SRCS = $(CORE_OBJS:.o=.cpp)
test/unit/core_tests: test/unit/core_tests.cpp $(CORE_SRCS) src/core/*.hpp
	$(CXX) -std=c++17 -O1 -g -Wall -Wextra -fsanitize=address,undefined -Isrc -o $@ test/unit/core_tests.cpp $(CORE_SRCS) -lgtest -lgtest_main -lcrypto -pthread

unit: test/unit/core_tests
	./test/unit/core_tests

.PHONY: unit

# The offline verifier (tools/forgea_audit_verify.cpp): the pure core and OpenSSL, no PostgreSQL.
tools/forgea_audit_verify: tools/forgea_audit_verify.cpp $(CORE_SRCS) src/core/*.hpp
	g++ -std=c++17 -O2 -Wall -Wextra -Isrc -o $@ tools/forgea_audit_verify.cpp $(CORE_SRCS) -lcrypto

verifier: tools/forgea_audit_verify

.PHONY: verifier
EXTRA_CLEAN = test/unit/core_tests $(OBJS:.o=.d) tools/forgea_audit_verify
