/* The PostgreSQL index, gc group (being written; see index_sqlite_gc.c). */
#include "index_pg.h"

const struct index_gc_ops ixp_gc_ops = { 0 };
