// Included by every header of the pure core (src/core): the core is what the extension, the
// offline verifier and the unit tests all link, so it must not depend on PostgreSQL.  The Makefile
// compiles the core without the server's include path; this is the second line of defence, for a
// PostgreSQL file that includes a core header *after* postgres.h and would otherwise let the core
// start using PostgreSQL macros unnoticed (pg_duckdb's cpp_only_file.hpp does the same).

#ifdef POSTGRES_H
#error "a src/core header was compiled after postgres.h: include \"pg/core_headers.hpp\" first in PostgreSQL-side files, and list new core headers there"
#endif
