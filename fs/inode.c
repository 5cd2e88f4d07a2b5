/* The inode table: (view, store node) -> inode, with kernel lookup counts,
 * like passthrough_ll's. The fuse_ino_t of a dynamic inode is its address;
 * the fixed ones (root, .ckptfs and its files) live inside struct fs.
 * A version is pinned in the store for as long as an inode on it lives, so
 * a working directory or handle bound to it keeps working after deletion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "util.h"

static size_t fs_hash(uint32_t view, int64_t node, size_t cap)
{
	uint64_t x = ((uint64_t)view << 40) ^ (uint64_t)node;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)(x & (cap - 1));
}

int fs_inodes_init(struct fs *fs)
{
	fs->hcap = 1024;
	fs->htab = calloc(fs->hcap, sizeof(*fs->htab));
	if (!fs->htab)
		return -ENOMEM;
	fs->next_serial = 16;
	fs->root.kind = FS_INO_ROOT;
	fs->root.serial = 1;
	fs->ctldir.kind = FS_INO_CTLDIR;
	fs->ctldir.serial = 2;
	fs->abortdir.kind = FS_INO_ABORTDIR;
	fs->abortdir.serial = 3;
	fs->trashdir.kind = FS_INO_TRASHDIR;
	fs->trashdir.serial = 15;
	for (int i = 0; i < FS_CTL_N; i++) {
		fs->ctlfile[i].kind = FS_INO_CTLFILE;
		fs->ctlfile[i].ctl = i;
		fs->ctlfile[i].serial = 4 + (uint64_t)i;
	}
	return 0;
}

void fs_inodes_release(struct fs *fs)
{
	for (size_t i = 0; fs->htab && i < fs->hcap; i++) {
		struct fs_inode *in = fs->htab[i];
		while (in) {
			struct fs_inode *next = in->hnext;
			if (in->version)
				store_version_unpin(fs->st, in->version);
			free(in);
			in = next;
		}
	}
	free(fs->htab);
	fs->htab = NULL;
	for (size_t i = 0; i < fs->n_reg; i++)
		free(fs->reg[i]);
	free(fs->reg);
	fs->reg = NULL;
	fs->n_reg = 0;
}

struct fs_inode *fs_ino(struct fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->root;
	return (struct fs_inode *)(uintptr_t)ino;
}

fuse_ino_t fs_ino_id(struct fs *fs, struct fs_inode *in)
{
	if (in == &fs->root)
		return FUSE_ROOT_ID;
	return (fuse_ino_t)(uintptr_t)in;
}

/* ino_lock held. */
static void fs_hash_insert(struct fs *fs, struct fs_inode *in)
{
	if (fs->hcount * 4 >= fs->hcap * 3) {
		size_t ncap = fs->hcap * 2;
		struct fs_inode **nt = calloc(ncap, sizeof(*nt));
		if (nt) { /* on failure the chains just get longer */
			for (size_t i = 0; i < fs->hcap; i++) {
				struct fs_inode *p = fs->htab[i];
				while (p) {
					struct fs_inode *next = p->hnext;
					size_t h = fs_hash(p->view, p->node, ncap);
					p->hnext = nt[h];
					nt[h] = p;
					p = next;
				}
			}
			free(fs->htab);
			fs->htab = nt;
			fs->hcap = ncap;
		}
	}
	size_t h = fs_hash(in->view, in->node, fs->hcap);
	in->hnext = fs->htab[h];
	fs->htab[h] = in;
	fs->hcount++;
}

/* ino_lock held. */
static void fs_hash_remove(struct fs *fs, struct fs_inode *in)
{
	struct fs_inode **pp = &fs->htab[fs_hash(in->view, in->node, fs->hcap)];
	while (*pp) {
		if (*pp == in) {
			*pp = in->hnext;
			fs->hcount--;
			return;
		}
		pp = &(*pp)->hnext;
	}
}

/* ino_lock held. */
static struct fs_inode *fs_hash_find(struct fs *fs, uint32_t view, int64_t node)
{
	struct fs_inode *p = fs->htab[fs_hash(view, node, fs->hcap)];
	while (p && !(p->view == view && p->node == node))
		p = p->hnext;
	return p;
}

int fs_inode_get(struct fs *fs, uint32_t view, int64_t node, int64_t version, int64_t ckpt,
		 int kind, struct fs_inode **out)
{
	pthread_mutex_lock(&fs->ino_lock);
	struct fs_inode *in = fs_hash_find(fs, view, node);
	if (in) {
		in->nlookup++;
		pthread_mutex_unlock(&fs->ino_lock);
		*out = in;
		return 0;
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		pthread_mutex_unlock(&fs->ino_lock);
		return -ENOMEM;
	}
	in->kind = kind;
	in->view = view;
	in->node = node;
	in->version = version;
	in->ckpt = ckpt;
	in->nlookup = 1;
	in->serial = fs->next_serial++;
	if (version)
		store_version_pin(fs->st, version);
	fs_hash_insert(fs, in);
	pthread_mutex_unlock(&fs->ino_lock);
	*out = in;
	return 0;
}

void fs_inode_forget(struct fs *fs, struct fs_inode *in, uint64_t n)
{
	if (in->kind != FS_INO_NODE && in->kind != FS_INO_PLAIN)
		return; /* fixed inodes live as long as the mount */
	pthread_mutex_lock(&fs->ino_lock);
	if (n > in->nlookup)
		n = in->nlookup;
	in->nlookup -= n;
	if (in->nlookup > 0) {
		pthread_mutex_unlock(&fs->ino_lock);
		return;
	}
	fs_hash_remove(fs, in);
	pthread_mutex_unlock(&fs->ino_lock);
	if (in->version)
		store_version_unpin(fs->st, in->version);
	free(in);
	fs_reclaim_kick(fs, false);
}

/* The node at path (relative, '/'-separated) under root; 0 or -errno. */
static int fs_walk(struct fs *fs, int64_t root, const char *path, struct store_node *out)
{
	int rc = store_node_get(fs->st, root, out);
	if (rc < 0)
		return rc;
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int64_t parent = out->id;
		rc = store_node_lookup(fs->st, parent, c, out);
		if (rc < 0)
			break;
	}
	free(copy);
	return rc;
}

void fs_inodes_rebind(struct fs *fs, int64_t ckpt, bool inval)
{
	struct ckpt_info ci;
	if (store_ckpt_get(fs->st, ckpt, &ci) < 0)
		return;
	struct store_node root;
	int rc = store_version_root(fs->st, ci.version, &root);
	int64_t version = ci.version;
	ckpt_info_release(&ci);
	if (rc < 0)
		return;

	pthread_mutex_lock(&fs->ino_lock);
	/* Collect first: rehashing while walking the buckets could resize. */
	size_t n = 0, cap = 0;
	struct fs_inode **todo = NULL;
	for (size_t i = 0; i < fs->hcap; i++) {
		for (struct fs_inode *in = fs->htab[i]; in; in = in->hnext) {
			if (in->kind != FS_INO_NODE || in->view != FS_VIEW_DIRECT ||
			    in->ckpt != ckpt || in->version == version)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct fs_inode **nt = realloc(todo, ncap * sizeof(*nt));
				if (!nt)
					goto out_rebind;
				todo = nt;
				cap = ncap;
			}
			todo[n++] = in;
		}
	}
out_rebind:
	for (size_t i = 0; i < n; i++) {
		struct fs_inode *in = todo[i];
		char *path = NULL;
		struct store_node cur;
		if (store_node_path(fs->st, in->node, &path) == 0 &&
		    fs_walk(fs, root.id, path, &cur) == 0 &&
		    !fs_hash_find(fs, FS_VIEW_DIRECT, cur.id)) {
			fs_hash_remove(fs, in);
			int64_t old = in->version;
			in->node = cur.id;
			in->version = cur.version;
			store_version_pin(fs->st, cur.version);
			if (old)
				store_version_unpin(fs->st, old);
			fs_hash_insert(fs, in);
			if (inval)
				fs_notify_inode(fs, fs_ino_id(fs, in));
		}
		free(path);
	}
	free(todo);
	pthread_mutex_unlock(&fs->ino_lock);
}

void fs_inodes_inval_child(struct fs *fs, int64_t parent_node, const char *name)
{
	pthread_mutex_lock(&fs->reg_lock);
	size_t n = fs->n_reg;
	pthread_mutex_unlock(&fs->reg_lock);
	/* The virtual views that may show this directory: one hash probe
	 * each (the registry holds few names), not a walk of all inodes. */
	pthread_mutex_lock(&fs->ino_lock);
	for (size_t v = 1; v <= n; v++) {
		struct fs_inode *in = fs_hash_find(fs, (uint32_t)v, parent_node);
		if (in && in->kind == FS_INO_NODE)
			fs_notify_entry(fs, fs_ino_id(fs, in), name);
	}
	pthread_mutex_unlock(&fs->ino_lock);
}

struct fs_pinned {
	fuse_ino_t ino;
	uint32_t view;
	int64_t node, ckpt;
};

/* The name of a version's root in the mount: the checkpoint's name under
 * the root, a virtual name ("latest:NAME", "best:NAME") under the root, or
 * "aborted:NAME" under .ckptfs/aborted. malloc'd, or NULL. */
static char *fs_view_root_name(struct fs *fs, const struct fs_pinned *p, fuse_ino_t *parent)
{
	*parent = FUSE_ROOT_ID;
	if (p->view == FS_VIEW_DIRECT) {
		struct ckpt_info ci;
		if (store_ckpt_get(fs->st, p->ckpt, &ci) < 0)
			return NULL;
		char *name = ci.name ? strdup(ci.name) : NULL;
		ckpt_info_release(&ci);
		return name;
	}
	char *reg = fs_reg_name(fs, p->view);
	char *colon = reg ? strchr(reg, ':') : NULL;
	char *name = colon ? strdup(colon + 1) : NULL;
	if (reg && strncmp(reg, "aborted:", 8) == 0)
		*parent = fs_ino_id(fs, &fs->abortdir);
	if (reg && strncmp(reg, "trash:", 6) == 0)
		*parent = fs_ino_id(fs, &fs->trashdir);
	free(reg);
	return name;
}

/* The kernel's name of a pinned inode: its parent's inode and its name. */
static char *fs_pinned_name(struct fs *fs, const struct fs_pinned *p, fuse_ino_t *parent)
{
	struct store_node n, cur;
	if (store_node_get(fs->st, p->node, &n) < 0)
		return NULL;
	if (n.parent == 0)
		return fs_view_root_name(fs, p, parent);
	char *path = NULL;
	if (store_node_path(fs->st, p->node, &path) < 0)
		return NULL;
	char *slash = strrchr(path, '/');
	char *name = strdup(slash ? slash + 1 : path);
	free(path);
	/* A direct view's parent may have been rebound to a newer version. */
	bool follow = p->view == FS_VIEW_DIRECT && store_node_follow(fs->st, n.parent, &cur) == 0;
	pthread_mutex_lock(&fs->ino_lock);
	struct fs_inode *in = fs_hash_find(fs, p->view, n.parent);
	if (!in && follow)
		in = fs_hash_find(fs, FS_VIEW_DIRECT, cur.id);
	*parent = in ? fs_ino_id(fs, in) : 0;
	pthread_mutex_unlock(&fs->ino_lock);
	if (!*parent) {
		free(name);
		return NULL;
	}
	return name;
}

static bool fs_version_in(int64_t v, const int64_t *vs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (vs[i] == v)
			return true;
	return false;
}

void fs_inodes_inval_versions(struct fs *fs, const int64_t *v, size_t nv)
{
	struct fs_pinned *todo = NULL;
	size_t n = 0, cap = 0;
	pthread_mutex_lock(&fs->ino_lock);
	for (size_t i = 0; i < fs->hcap && n < FS_NOTIFY_MAX / 2; i++) {
		for (struct fs_inode *in = fs->htab[i]; in && n < FS_NOTIFY_MAX / 2;
		     in = in->hnext) {
			if (in->kind != FS_INO_NODE || !fs_version_in(in->version, v, nv))
				continue;
			if (UTIL_GROW(todo, cap, n, FS_NOTIFY_MAX) < 0)
				goto out_collected;
			todo[n++] = (struct fs_pinned){ fs_ino_id(fs, in), in->view, in->node,
							in->ckpt };
		}
	}
out_collected:
	pthread_mutex_unlock(&fs->ino_lock);
	/* The store is asked outside ino_lock; an inode forgotten meanwhile
	 * only makes its notification a no-op (-ENOENT from the kernel). */
	for (size_t i = 0; i < n; i++) {
		fuse_ino_t parent;
		char *name = fs_pinned_name(fs, &todo[i], &parent);
		if (name)
			fs_notify_entry(fs, parent, name);
		free(name);
	}
	free(todo);
}

uint32_t fs_reg_id(struct fs *fs, const char *s)
{
	pthread_mutex_lock(&fs->reg_lock);
	for (size_t i = 0; i < fs->n_reg; i++) {
		if (strcmp(fs->reg[i], s) == 0) {
			pthread_mutex_unlock(&fs->reg_lock);
			return (uint32_t)i + 1;
		}
	}
	uint32_t id = 0;
	if (fs->n_reg >= FS_REG_MAX)
		goto out_unlock;
	if (fs->n_reg == fs->reg_cap) {
		size_t ncap = fs->reg_cap ? fs->reg_cap * 2 : 64;
		char **nr = realloc(fs->reg, ncap * sizeof(*nr));
		if (!nr)
			goto out_unlock;
		fs->reg = nr;
		fs->reg_cap = ncap;
	}
	char *copy = strdup(s);
	if (!copy)
		goto out_unlock;
	fs->reg[fs->n_reg++] = copy;
	id = (uint32_t)fs->n_reg;
out_unlock:
	pthread_mutex_unlock(&fs->reg_lock);
	return id;
}

char *fs_reg_name(struct fs *fs, uint32_t id)
{
	char *s = NULL;
	pthread_mutex_lock(&fs->reg_lock);
	if (id >= 1 && id <= fs->n_reg)
		s = strdup(fs->reg[id - 1]);
	pthread_mutex_unlock(&fs->reg_lock);
	return s;
}
