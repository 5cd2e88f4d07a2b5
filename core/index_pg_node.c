/* The PostgreSQL index, node group (being written; see index_sqlite_node.c). */
#include "index_pg.h"

const struct index_node_ops ixp_node_ops = { 0 };
