/* `ckpt undelete` and `ckpt trash` (tools/ckpt_trash.c), over a store that
 * tools/ckpt.c opened. Each returns ckpt's exit code. */
#ifndef CKPT_TRASH_H
#define CKPT_TRASH_H

#include <stdbool.h>

#include "store.h"

int trash_cmd_undelete(struct store *st, const char *name, bool json);
int trash_cmd_ls(struct store *st, bool json);
/* name NULL: every trashed checkpoint. */
int trash_cmd_empty(struct store *st, const char *name, bool json);

#endif
