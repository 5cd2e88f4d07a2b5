/* The PostgreSQL index, ckpt group (being written; see index_sqlite_ckpt.c). */
#include "index_pg.h"

const struct index_ckpt_ops ixp_ckpt_ops = { 0 };
