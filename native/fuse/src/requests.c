/*
 * Request intake: the libfuse low-level callbacks (run on FUSE worker threads) and their
 * delivery to JavaScript (run on the JS thread). A callback copies what it needs out of the
 * request (names, write data), registers the request in the slot table and posts a message;
 * it never waits for JavaScript. If the message cannot be posted, the request is answered
 * here with an error, so no request is ever left without exactly one reply.
 */
#include "qfs_fuse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- slot table */

#define QFS_SLOTS_INITIAL 1024u
#define QFS_NO_SLOT UINT32_MAX
#define QFS_GEN_MAX 0x7fffffffu

static int slots_grow(qfs_session *s) {
  uint32_t old_cap = s->slots_cap;
  uint32_t new_cap = old_cap == 0 ? QFS_SLOTS_INITIAL : old_cap * 2;
  if (new_cap > QFS_MAX_SLOTS) return -1;
  qfs_slot *grown = realloc(s->slots, (size_t)new_cap * sizeof(qfs_slot));
  if (grown == NULL) return -1;
  s->slots = grown;
  for (uint32_t i = old_cap; i < new_cap; i++) {
    grown[i].req = NULL;
    grown[i].gen = 1;
    grown[i].used = 0;
    grown[i].aux = 0;
    grown[i].next_free = (i + 1 < new_cap) ? i + 1 : s->free_head;
  }
  s->free_head = old_cap;
  s->slots_cap = new_cap;
  return 0;
}

int qfs_slot_register(qfs_session *s, fuse_req_t req, uint32_t aux, uint64_t *id_out) {
  pthread_mutex_lock(&s->slots_lock);
  if (!s->accepting) {
    pthread_mutex_unlock(&s->slots_lock);
    return -ENOTCONN;
  }
  if (s->free_head == QFS_NO_SLOT && slots_grow(s) != 0) {
    pthread_mutex_unlock(&s->slots_lock);
    return -ENOMEM;
  }
  uint32_t idx = s->free_head;
  qfs_slot *slot = &s->slots[idx];
  s->free_head = slot->next_free;
  slot->req = req;
  slot->used = 1;
  slot->aux = aux;
  s->slots_used_count++;
  *id_out = ((uint64_t)slot->gen << QFS_SLOT_BITS) | idx;
  pthread_mutex_unlock(&s->slots_lock);
  return 0;
}

/* Removes a pending request from the table and hands it to the caller, who must answer it.
 * Returns NULL if the id is unknown, stale or already answered: that is what makes a second
 * reply harmless. */
fuse_req_t qfs_slot_take(qfs_session *s, uint64_t id, uint32_t *aux_out) {
  uint32_t idx = (uint32_t)(id & (QFS_MAX_SLOTS - 1));
  uint64_t gen = id >> QFS_SLOT_BITS;
  fuse_req_t req = NULL;
  pthread_mutex_lock(&s->slots_lock);
  if (idx < s->slots_cap && s->slots[idx].used && s->slots[idx].gen == gen) {
    qfs_slot *slot = &s->slots[idx];
    req = slot->req;
    if (aux_out) *aux_out = slot->aux;
    slot->req = NULL;
    slot->used = 0;
    slot->gen = slot->gen >= QFS_GEN_MAX ? 1 : slot->gen + 1;
    slot->next_free = s->free_head;
    s->free_head = idx;
    s->slots_used_count--;
  }
  pthread_mutex_unlock(&s->slots_lock);
  return req;
}

/* Answers every pending request with err and stops accepting new ones. Called once the
 * session loop has returned (no new requests can arrive) and before the device fd closes. */
void qfs_slots_drop_all(qfs_session *s, int err) {
  pthread_mutex_lock(&s->slots_lock);
  s->accepting = 0;
  for (uint32_t i = 0; i < s->slots_cap; i++) {
    qfs_slot *slot = &s->slots[i];
    if (!slot->used) continue;
    fuse_req_t req = slot->req;
    slot->req = NULL;
    slot->used = 0;
    slot->gen = slot->gen >= QFS_GEN_MAX ? 1 : slot->gen + 1;
    slot->next_free = s->free_head;
    s->free_head = i;
    s->slots_used_count--;
    /* A write to an aborted connection fails harmlessly; to a live one it releases the
     * waiting caller (and any kernel locks it holds). */
    fuse_reply_err(req, err);
  }
  pthread_mutex_unlock(&s->slots_lock);
}

/* ---------------------------------------------------------------- message helpers */

static qfs_msg *msg_begin(fuse_req_t req, int op, fuse_ino_t ino, uint32_t aux) {
  qfs_session *s = fuse_req_userdata(req);
  qfs_msg *m = calloc(1, sizeof(*m));
  if (m == NULL) {
    fuse_reply_err(req, ENOMEM);
    return NULL;
  }
  int rc = qfs_slot_register(s, req, aux, &m->id);
  if (rc != 0) {
    free(m);
    fuse_reply_err(req, -rc);
    return NULL;
  }
  const struct fuse_ctx *ctx = fuse_req_ctx(req);
  m->op = op;
  m->uid = ctx->uid;
  m->gid = ctx->gid;
  m->pid = (uint32_t)ctx->pid;
  m->umask = ctx->umask;
  m->ino = ino;
  return m;
}

/* Gives up on a message that was never posted: answers its request with err. */
static void msg_fail(fuse_req_t req, qfs_msg *m, int err) {
  qfs_session *s = fuse_req_userdata(req);
  fuse_req_t taken = qfs_slot_take(s, m->id, NULL);
  if (taken != NULL) fuse_reply_err(taken, err);
  qfs_msg_free(m);
}

static int msg_set_str(qfs_msg *m, char **dst, const char *src) {
  (void)m;
  *dst = strdup(src);
  return *dst == NULL ? -1 : 0;
}

/* Posts m; after a successful post the message belongs to the JS thread and req must not be
 * touched here again (JavaScript may already have answered it). */
static void msg_send(fuse_req_t req, qfs_msg *m) {
  qfs_session *s = fuse_req_userdata(req);
  if (qfs_post(s, m) != 0) msg_fail(req, m, EIO);
}

#define ARG(m, i, v)                                                           \
  do {                                                                         \
    (m)->n[(i)] = (double)(v);                                                 \
    if ((m)->nargs < (i) + 1) (m)->nargs = (i) + 1;                            \
  } while (0)

/* ---------------------------------------------------------------- operations */

static void op_init(void *userdata, struct fuse_conn_info *conn) {
  qfs_session *s = userdata;
  const qfs_conn_config *c = &s->cfg;
  if (c->max_write_bytes > 0 && c->max_write_bytes < conn->max_write) conn->max_write = c->max_write_bytes;
  if (c->max_readahead_bytes > 0 && c->max_readahead_bytes < conn->max_readahead)
    conn->max_readahead = c->max_readahead_bytes;
  if (c->max_background > 0) conn->max_background = c->max_background;
  if (c->congestion_threshold > 0) conn->congestion_threshold = c->congestion_threshold;

#define WANT(flag, on)                                                         \
  do {                                                                         \
    if ((on) && (conn->capable & (flag))) conn->want |= (flag);                \
    else conn->want &= ~(unsigned)(flag);                                      \
  } while (0)
  WANT(FUSE_CAP_ASYNC_READ, 1);
  WANT(FUSE_CAP_PARALLEL_DIROPS, 1);
  WANT(FUSE_CAP_READDIRPLUS, s->ops.readdirplus != NULL);
  WANT(FUSE_CAP_READDIRPLUS_AUTO, s->ops.readdirplus != NULL && s->ops.readdir != NULL && c->readdirplus_auto);
  WANT(FUSE_CAP_WRITEBACK_CACHE, c->writeback_cache);
  WANT(FUSE_CAP_SPLICE_READ, c->splice);
  WANT(FUSE_CAP_SPLICE_WRITE, c->splice);
  WANT(FUSE_CAP_SPLICE_MOVE, c->splice);
  WANT(FUSE_CAP_HANDLE_KILLPRIV, c->handle_killpriv);
  WANT(FUSE_CAP_ATOMIC_O_TRUNC, c->atomic_o_trunc);
  WANT(FUSE_CAP_AUTO_INVAL_DATA, c->auto_inval_data);
  WANT(FUSE_CAP_CACHE_SYMLINKS, c->cache_symlinks);
  WANT(FUSE_CAP_ASYNC_DIO, c->async_dio);
  WANT(FUSE_CAP_POSIX_LOCKS, s->ops.getlk != NULL && s->ops.setlk != NULL);
  WANT(FUSE_CAP_FLOCK_LOCKS, 0);
  WANT(FUSE_CAP_EXPORT_SUPPORT, 0);
  WANT(FUSE_CAP_DONT_MASK, 0);
#undef WANT
  conn->time_gran = 1;

  qfs_msg *m = calloc(1, sizeof(*m));
  if (m == NULL) return;
  m->op = QFS_OP_INIT;
  ARG(m, 0, conn->proto_major);
  ARG(m, 1, conn->proto_minor);
  ARG(m, 2, conn->max_write);
  ARG(m, 3, conn->max_readahead);
  ARG(m, 4, conn->capable);
  ARG(m, 5, conn->want);
  ARG(m, 6, conn->max_background);
  ARG(m, 7, conn->congestion_threshold);
  if (qfs_post(s, m) != 0) qfs_msg_free(m);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  qfs_msg *m = msg_begin(req, QFS_OP_LOOKUP, parent, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0) { msg_fail(req, m, ENOMEM); return; }
  msg_send(req, m);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  qfs_session *s = fuse_req_userdata(req);
  fuse_reply_none(req); /* forget takes no reply; JS only needs the counts */
  qfs_msg *m = calloc(1, sizeof(*m));
  if (m == NULL) return;
  m->op = QFS_OP_FORGET;
  m->ino = ino;
  ARG(m, 0, nlookup);
  if (qfs_post(s, m) != 0) qfs_msg_free(m);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  qfs_session *s = fuse_req_userdata(req);
  qfs_msg *m = calloc(1, sizeof(*m));
  struct fuse_forget_data *copy = count > 0 ? malloc(count * sizeof(*copy)) : NULL;
  if (m != NULL && (copy != NULL || count == 0)) {
    if (count > 0) memcpy(copy, forgets, count * sizeof(*copy));
    m->op = QFS_OP_FORGET;
    m->forgets = copy;
    m->forget_count = count;
    copy = NULL;
  } else {
    free(m);
    m = NULL;
  }
  free(copy);
  fuse_reply_none(req); /* forgets may arrive in the args buffer: copy before replying */
  if (m != NULL && qfs_post(s, m) != 0) qfs_msg_free(m);
}

static void put_fh(qfs_msg *m, int i, struct fuse_file_info *fi) {
  ARG(m, i, fi != NULL ? 1 : 0);
  ARG(m, i + 1, fi != NULL ? (double)fi->fh : 0);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_GETATTR, ino, 0);
  if (m == NULL) return;
  put_fh(m, 0, fi);
  msg_send(req, m);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_SETATTR, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, to_set);
  put_fh(m, 1, fi);
  m->f64_len = 10;
  m->f64 = malloc(m->f64_len * sizeof(double));
  if (m->f64 == NULL) { msg_fail(req, m, ENOMEM); return; }
  m->f64[0] = attr->st_mode;
  m->f64[1] = attr->st_uid;
  m->f64[2] = attr->st_gid;
  m->f64[3] = (double)attr->st_size;
  m->f64[4] = (double)attr->st_atim.tv_sec;
  m->f64[5] = (double)attr->st_atim.tv_nsec;
  m->f64[6] = (double)attr->st_mtim.tv_sec;
  m->f64[7] = (double)attr->st_mtim.tv_nsec;
  m->f64[8] = (double)attr->st_ctim.tv_sec;
  m->f64[9] = (double)attr->st_ctim.tv_nsec;
  msg_send(req, m);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  qfs_msg *m = msg_begin(req, QFS_OP_READLINK, ino, 0);
  if (m == NULL) return;
  msg_send(req, m);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  qfs_msg *m = msg_begin(req, QFS_OP_MKNOD, parent, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0) { msg_fail(req, m, ENOMEM); return; }
  ARG(m, 0, mode);
  ARG(m, 1, rdev);
  msg_send(req, m);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  qfs_msg *m = msg_begin(req, QFS_OP_MKDIR, parent, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0) { msg_fail(req, m, ENOMEM); return; }
  ARG(m, 0, mode);
  msg_send(req, m);
}

static void op_name_only(fuse_req_t req, int op, fuse_ino_t parent, const char *name) {
  qfs_msg *m = msg_begin(req, op, parent, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0) { msg_fail(req, m, ENOMEM); return; }
  msg_send(req, m);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  op_name_only(req, QFS_OP_UNLINK, parent, name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  op_name_only(req, QFS_OP_RMDIR, parent, name);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  qfs_msg *m = msg_begin(req, QFS_OP_SYMLINK, parent, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0 || msg_set_str(m, &m->s2, link) != 0)
    { msg_fail(req, m, ENOMEM); return; }
  msg_send(req, m);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
  qfs_msg *m = msg_begin(req, QFS_OP_RENAME, parent, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0 || msg_set_str(m, &m->s2, newname) != 0)
    { msg_fail(req, m, ENOMEM); return; }
  ARG(m, 0, newparent);
  ARG(m, 1, flags);
  msg_send(req, m);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  qfs_msg *m = msg_begin(req, QFS_OP_LINK, ino, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, newname) != 0) { msg_fail(req, m, ENOMEM); return; }
  ARG(m, 0, newparent);
  msg_send(req, m);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_OPEN, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, fi->flags);
  msg_send(req, m);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_READ, ino, (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size));
  if (m == NULL) return;
  ARG(m, 0, fi->fh);
  ARG(m, 1, off);
  ARG(m, 2, size);
  ARG(m, 3, fi->flags);
  msg_send(req, m);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_WRITE, ino, 0);
  if (m == NULL) return;
  /* The request buffer is reused by this worker as soon as we return: copy the data. */
  m->has_data = 1;
  m->data_len = size;
  if (size > 0) {
    m->data = malloc(size);
    if (m->data == NULL) { msg_fail(req, m, ENOMEM); return; }
    memcpy(m->data, buf, size);
  }
  ARG(m, 0, fi->fh);
  ARG(m, 1, off);
  ARG(m, 2, size);
  ARG(m, 3, fi->writepage);
  ARG(m, 4, fi->flags);
  msg_send(req, m);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_FLUSH, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, fi->fh);
  m->has_owner = 1;
  m->owner = fi->lock_owner;
  msg_send(req, m);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_RELEASE, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, fi->fh);
  ARG(m, 1, fi->flags);
  ARG(m, 2, fi->flush);
  ARG(m, 3, fi->flock_release);
  m->has_owner = 1;
  m->owner = fi->lock_owner;
  msg_send(req, m);
}

static void op_fsync_common(fuse_req_t req, int op, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, op, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, fi->fh);
  ARG(m, 1, datasync);
  msg_send(req, m);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  op_fsync_common(req, QFS_OP_FSYNC, ino, datasync, fi);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  op_fsync_common(req, QFS_OP_FSYNCDIR, ino, datasync, fi);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_OPENDIR, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, fi->flags);
  msg_send(req, m);
}

static void op_readdir_common(fuse_req_t req, int op, fuse_ino_t ino, size_t size, off_t off,
                              struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, op, ino, (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size));
  if (m == NULL) return;
  ARG(m, 0, fi->fh);
  ARG(m, 1, off);
  ARG(m, 2, size);
  msg_send(req, m);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  op_readdir_common(req, QFS_OP_READDIR, ino, size, off, fi);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  op_readdir_common(req, QFS_OP_READDIRPLUS, ino, size, off, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_RELEASEDIR, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, fi->fh);
  msg_send(req, m);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  qfs_msg *m = msg_begin(req, QFS_OP_STATFS, ino, 0);
  if (m == NULL) return;
  msg_send(req, m);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags) {
  qfs_msg *m = msg_begin(req, QFS_OP_SETXATTR, ino, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0) { msg_fail(req, m, ENOMEM); return; }
  m->has_data = 1;
  m->data_len = size;
  if (size > 0) {
    m->data = malloc(size);
    if (m->data == NULL) { msg_fail(req, m, ENOMEM); return; }
    memcpy(m->data, value, size);
  }
  ARG(m, 0, flags);
  msg_send(req, m);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  qfs_msg *m = msg_begin(req, QFS_OP_GETXATTR, ino, (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size));
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0) { msg_fail(req, m, ENOMEM); return; }
  ARG(m, 0, size);
  msg_send(req, m);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  qfs_msg *m = msg_begin(req, QFS_OP_LISTXATTR, ino, (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size));
  if (m == NULL) return;
  ARG(m, 0, size);
  msg_send(req, m);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  op_name_only(req, QFS_OP_REMOVEXATTR, ino, name);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  qfs_msg *m = msg_begin(req, QFS_OP_ACCESS, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, mask);
  msg_send(req, m);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_CREATE, parent, 0);
  if (m == NULL) return;
  if (msg_set_str(m, &m->s1, name) != 0) { msg_fail(req, m, ENOMEM); return; }
  ARG(m, 0, mode);
  ARG(m, 1, fi->flags);
  msg_send(req, m);
}

static void put_lock(qfs_msg *m, struct fuse_file_info *fi, struct flock *lock) {
  ARG(m, 0, fi->fh);
  ARG(m, 1, lock->l_type);
  ARG(m, 2, lock->l_start);
  ARG(m, 3, lock->l_len);
  ARG(m, 4, lock->l_pid);
  m->has_owner = 1;
  m->owner = fi->lock_owner;
}

static void op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock) {
  qfs_msg *m = msg_begin(req, QFS_OP_GETLK, ino, 0);
  if (m == NULL) return;
  put_lock(m, fi, lock);
  msg_send(req, m);
}

/* Runs on a FUSE worker when the kernel interrupts a request (a signal hit the caller). */
static void on_interrupt(fuse_req_t req, void *data) {
  qfs_session *s = fuse_req_userdata(req);
  qfs_msg *m = calloc(1, sizeof(*m));
  if (m == NULL) return;
  m->op = QFS_MSG_INTERRUPT;
  m->id = (uint64_t)(uintptr_t)data;
  if (qfs_post(s, m) != 0) qfs_msg_free(m);
}

static void op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock, int sleep) {
  qfs_msg *m = msg_begin(req, QFS_OP_SETLK, ino, 0);
  if (m == NULL) return;
  put_lock(m, fi, lock);
  ARG(m, 5, sleep);
  if (sleep) {
    /* Registered before posting: after the post, JavaScript may answer (and free) req at any
     * moment. An interrupt that is already pending fires right here, before the request
     * message; the JS side remembers such early interrupts. */
    fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)m->id);
  }
  msg_send(req, m);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_FALLOCATE, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, fi->fh);
  ARG(m, 1, mode);
  ARG(m, 2, offset);
  ARG(m, 3, length);
  msg_send(req, m);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
                               fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out,
                               size_t len, int flags) {
  qfs_msg *m = msg_begin(req, QFS_OP_COPY_FILE_RANGE, ino_in, 0);
  if (m == NULL) return;
  ARG(m, 0, fi_in->fh);
  ARG(m, 1, off_in);
  ARG(m, 2, ino_out);
  ARG(m, 3, fi_out->fh);
  ARG(m, 4, off_out);
  ARG(m, 5, len);
  ARG(m, 6, flags);
  msg_send(req, m);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi) {
  qfs_msg *m = msg_begin(req, QFS_OP_LSEEK, ino, 0);
  if (m == NULL) return;
  ARG(m, 0, fi->fh);
  ARG(m, 1, off);
  ARG(m, 2, whence);
  msg_send(req, m);
}

/* Registers only the operations JavaScript implements: for the others libfuse answers ENOSYS
 * itself (or applies its default, e.g. opendir/open succeed), and the kernel stops asking. */
void qfs_build_ops(struct fuse_lowlevel_ops *ops, const int *enabled) {
  memset(ops, 0, sizeof(*ops));
  ops->init = op_init;
  if (enabled[QFS_OP_LOOKUP]) ops->lookup = op_lookup;
  /* Forgets are always taken so the kernel never waits on them. */
  ops->forget = op_forget;
  ops->forget_multi = op_forget_multi;
  if (enabled[QFS_OP_GETATTR]) ops->getattr = op_getattr;
  if (enabled[QFS_OP_SETATTR]) ops->setattr = op_setattr;
  if (enabled[QFS_OP_READLINK]) ops->readlink = op_readlink;
  if (enabled[QFS_OP_MKNOD]) ops->mknod = op_mknod;
  if (enabled[QFS_OP_MKDIR]) ops->mkdir = op_mkdir;
  if (enabled[QFS_OP_UNLINK]) ops->unlink = op_unlink;
  if (enabled[QFS_OP_RMDIR]) ops->rmdir = op_rmdir;
  if (enabled[QFS_OP_SYMLINK]) ops->symlink = op_symlink;
  if (enabled[QFS_OP_RENAME]) ops->rename = op_rename;
  if (enabled[QFS_OP_LINK]) ops->link = op_link;
  if (enabled[QFS_OP_OPEN]) ops->open = op_open;
  if (enabled[QFS_OP_READ]) ops->read = op_read;
  if (enabled[QFS_OP_WRITE]) ops->write = op_write;
  if (enabled[QFS_OP_FLUSH]) ops->flush = op_flush;
  if (enabled[QFS_OP_RELEASE]) ops->release = op_release;
  if (enabled[QFS_OP_FSYNC]) ops->fsync = op_fsync;
  if (enabled[QFS_OP_OPENDIR]) ops->opendir = op_opendir;
  if (enabled[QFS_OP_READDIR]) ops->readdir = op_readdir;
  if (enabled[QFS_OP_RELEASEDIR]) ops->releasedir = op_releasedir;
  if (enabled[QFS_OP_FSYNCDIR]) ops->fsyncdir = op_fsyncdir;
  if (enabled[QFS_OP_STATFS]) ops->statfs = op_statfs;
  if (enabled[QFS_OP_SETXATTR]) ops->setxattr = op_setxattr;
  if (enabled[QFS_OP_GETXATTR]) ops->getxattr = op_getxattr;
  if (enabled[QFS_OP_LISTXATTR]) ops->listxattr = op_listxattr;
  if (enabled[QFS_OP_REMOVEXATTR]) ops->removexattr = op_removexattr;
  if (enabled[QFS_OP_ACCESS]) ops->access = op_access;
  if (enabled[QFS_OP_CREATE]) ops->create = op_create;
  if (enabled[QFS_OP_GETLK]) ops->getlk = op_getlk;
  if (enabled[QFS_OP_SETLK]) ops->setlk = op_setlk;
  if (enabled[QFS_OP_READDIRPLUS]) ops->readdirplus = op_readdirplus;
  if (enabled[QFS_OP_FALLOCATE]) ops->fallocate = op_fallocate;
  if (enabled[QFS_OP_COPY_FILE_RANGE]) ops->copy_file_range = op_copy_file_range;
  if (enabled[QFS_OP_LSEEK]) ops->lseek = op_lseek;
}

/* ---------------------------------------------------------------- delivery to JS */

#define QFS_DISPATCH_ARGC 19

static void free_external(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value make_data_buffer(napi_env env, qfs_msg *m) {
  napi_value buf = NULL;
  if (m->data == NULL || m->data_len == 0) {
    void *unused = NULL;
    if (napi_create_buffer(env, 0, &unused, &buf) != napi_ok) return NULL;
    return buf;
  }
  if (napi_create_external_buffer(env, m->data_len, m->data, free_external, NULL, &buf) == napi_ok) {
    m->data = NULL; /* the Buffer owns it now */
    return buf;
  }
  /* External buffers can be disallowed (sandboxed builds): fall back to a copy. */
  void *copy = NULL;
  if (napi_create_buffer_copy(env, m->data_len, m->data, &copy, &buf) != napi_ok) return NULL;
  return buf;
}

static napi_value make_f64(napi_env env, const double *vals, size_t len) {
  napi_value ab, ta;
  void *ptr = NULL;
  if (napi_create_arraybuffer(env, len * sizeof(double), &ptr, &ab) != napi_ok) return NULL;
  memcpy(ptr, vals, len * sizeof(double));
  if (napi_create_typedarray(env, napi_float64_array, len, ab, 0, &ta) != napi_ok) return NULL;
  return ta;
}

/* Calls the JS dispatcher once; on a thrown exception, clears it and answers the request with
 * EIO (the TS layer catches handler errors itself, so this is a last resort). */
static void dispatch(napi_env env, napi_value js_cb, qfs_session *s, napi_value *argv, uint64_t id) {
  napi_value global, result;
  napi_get_global(env, &global);
  napi_status st = napi_call_function(env, global, js_cb, QFS_DISPATCH_ARGC, argv, &result);
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
    }
    if (id != 0 && s != NULL) {
      fuse_req_t req = qfs_slot_take(s, id, NULL);
      if (req != NULL) fuse_reply_err(req, EIO);
    }
  }
}

void qfs_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  qfs_session *s = context;
  qfs_msg *m = data;
  if (env == NULL || js_cb == NULL) {
    /* The environment is going away; the env cleanup hook answers what is pending. */
    qfs_msg_free(m);
    return;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    qfs_msg_free(m);
    return;
  }
  if (m->op == QFS_MSG_ENDED) qfs_session_on_ended(s);

  napi_value undef;
  napi_get_undefined(env, &undef);
  napi_value argv[QFS_DISPATCH_ARGC];
  for (int i = 0; i < QFS_DISPATCH_ARGC; i++) argv[i] = undef;
  napi_create_int32(env, m->op, &argv[0]);
  napi_create_double(env, (double)m->id, &argv[1]);
  napi_create_uint32(env, m->uid, &argv[2]);
  napi_create_uint32(env, m->gid, &argv[3]);
  napi_create_uint32(env, m->pid, &argv[4]);
  napi_create_uint32(env, m->umask, &argv[5]);
  napi_create_double(env, (double)m->ino, &argv[6]);
  for (int i = 0; i < m->nargs && i < QFS_NUM_ARGS; i++) napi_create_double(env, m->n[i], &argv[7 + i]);
  /* Names and symlink targets are bytes in Linux (anything but '/' and NUL): they cross as
   * Buffers, never as text, so a name that is not UTF-8 reaches the file system intact. */
  if (m->s1 != NULL) napi_create_buffer_copy(env, strlen(m->s1), m->s1, NULL, &argv[15]);
  if (m->s2 != NULL) napi_create_buffer_copy(env, strlen(m->s2), m->s2, NULL, &argv[16]);
  if (m->has_data) {
    napi_value b = make_data_buffer(env, m);
    if (b != NULL) argv[17] = b;
  } else if (m->f64 != NULL) {
    napi_value t = make_f64(env, m->f64, m->f64_len);
    if (t != NULL) argv[17] = t;
  }
  if (m->has_owner) napi_create_bigint_uint64(env, m->owner, &argv[18]);

  if (m->forgets != NULL) {
    /* One dispatch per forgotten inode keeps the JS side to a single forget shape. */
    for (size_t i = 0; i < m->forget_count; i++) {
      napi_value ino, nlookup;
      napi_create_double(env, (double)m->forgets[i].ino, &ino);
      napi_create_double(env, (double)m->forgets[i].nlookup, &nlookup);
      argv[6] = ino;
      argv[7] = nlookup;
      dispatch(env, js_cb, s, argv, 0);
    }
  } else {
    int is_request = m->op > QFS_OP_INIT && m->op < QFS_OP_COUNT && m->op != QFS_OP_FORGET;
    dispatch(env, js_cb, s, argv, is_request ? m->id : 0);
  }
  napi_close_handle_scope(env, scope);
  qfs_msg_free(m);
}
