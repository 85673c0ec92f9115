/*
 * Reply functions called from the JS thread: reply*(handle, id, ...). Each takes the request
 * out of the slot table first, so a request is answered at most once: a second reply, or one
 * after teardown, finds no slot and returns null without touching libfuse. Otherwise the
 * return value is fuse_reply_*'s result (0, or -errno such as -ENOENT when the caller was
 * interrupted and the reply discarded); replyDirents returns the number of entries packed.
 * Attributes travel as Float64Array blocks in the layout of src/fuse/fuse-wire.ts.
 */
#include "qfs_fuse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Entry/attr block layout (keep in step with src/fuse/fuse-wire.ts). */
enum {
  E_INO = 0,
  E_GEN,
  E_ATTR_TIMEOUT,
  E_ENTRY_TIMEOUT,
  E_MODE,
  E_NLINK,
  E_UID,
  E_GID,
  E_RDEV,
  E_SIZE,
  E_BLKSIZE,
  E_BLOCKS,
  E_ATIME_S,
  E_ATIME_NS,
  E_MTIME_S,
  E_MTIME_NS,
  E_CTIME_S,
  E_CTIME_NS,
  E_LEN
};

#define DIRENT_STRIDE 3 /* ino, mode, next offset */
#define DIRENT_PLUS_STRIDE (1 + E_LEN) /* next offset, entry block */

enum { OPEN_DIRECT_IO = 1, OPEN_KEEP_CACHE = 2, OPEN_NONSEEKABLE = 4, OPEN_CACHE_READDIR = 8, OPEN_NOFLUSH = 16 };

static uint64_t to_u64(double d) {
  if (!(d > 0)) return 0;
  if (d >= 18446744073709551615.0) return UINT64_MAX;
  return (uint64_t)d;
}

static int64_t to_i64(double d) {
  if (d != d) return 0;
  if (d >= 9223372036854775807.0) return INT64_MAX;
  if (d <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)d;
}

static long to_nsec(double d) {
  if (!(d > 0)) return 0;
  if (d > 999999999.0) return 999999999L;
  return (long)d;
}

static void fill_stat(struct stat *st, const double *a) {
  memset(st, 0, sizeof(*st));
  st->st_ino = to_u64(a[E_INO]);
  st->st_mode = (mode_t)to_u64(a[E_MODE]);
  st->st_nlink = (nlink_t)to_u64(a[E_NLINK]);
  st->st_uid = (uid_t)to_u64(a[E_UID]);
  st->st_gid = (gid_t)to_u64(a[E_GID]);
  st->st_rdev = (dev_t)to_u64(a[E_RDEV]);
  st->st_size = (off_t)to_i64(a[E_SIZE]);
  st->st_blksize = (blksize_t)to_u64(a[E_BLKSIZE]);
  st->st_blocks = (blkcnt_t)to_i64(a[E_BLOCKS]);
  st->st_atim.tv_sec = (time_t)to_i64(a[E_ATIME_S]);
  st->st_atim.tv_nsec = to_nsec(a[E_ATIME_NS]);
  st->st_mtim.tv_sec = (time_t)to_i64(a[E_MTIME_S]);
  st->st_mtim.tv_nsec = to_nsec(a[E_MTIME_NS]);
  st->st_ctim.tv_sec = (time_t)to_i64(a[E_CTIME_S]);
  st->st_ctim.tv_nsec = to_nsec(a[E_CTIME_NS]);
}

static double timeout_of(double d) { return d > 0 ? d : 0; }

static void fill_entry(struct fuse_entry_param *e, const double *a) {
  memset(e, 0, sizeof(*e));
  e->ino = to_u64(a[E_INO]);
  e->generation = to_u64(a[E_GEN]);
  e->attr_timeout = timeout_of(a[E_ATTR_TIMEOUT]);
  e->entry_timeout = timeout_of(a[E_ENTRY_TIMEOUT]);
  if (e->ino != 0) fill_stat(&e->attr, a);
}

static void fill_open(struct fuse_file_info *fi, double fh, uint32_t bits) {
  memset(fi, 0, sizeof(*fi));
  fi->fh = to_u64(fh);
  fi->direct_io = (bits & OPEN_DIRECT_IO) != 0;
  fi->keep_cache = (bits & OPEN_KEEP_CACHE) != 0;
  fi->nonseekable = (bits & OPEN_NONSEEKABLE) != 0;
  fi->cache_readdir = (bits & OPEN_CACHE_READDIR) != 0;
  fi->noflush = (bits & OPEN_NOFLUSH) != 0;
}

/* ---------------------------------------------------------------- argument plumbing */

typedef struct reply_ctx {
  napi_env env;
  qfs_session *s;
  fuse_req_t req;
  uint32_t aux;
  size_t argc;
  napi_value argv[8];
} reply_ctx;

/* Parses (handle, id, ...) and takes the request. Returns 0 with rc->req set, 1 when the id is
 * not pending (caller returns null), -1 on a thrown JS error. */
static int reply_begin(napi_env env, napi_callback_info info, reply_ctx *rc, size_t min_args) {
  rc->env = env;
  rc->argc = 8;
  rc->req = NULL;
  if (napi_get_cb_info(env, info, &rc->argc, rc->argv, NULL, NULL) != napi_ok) return -1;
  if (rc->argc < min_args) {
    napi_throw_type_error(env, NULL, "reply: missing arguments");
    return -1;
  }
  rc->s = qfs_unwrap(env, rc->argv[0]);
  if (rc->s == NULL) return -1;
  double id;
  if (napi_get_value_double(env, rc->argv[1], &id) != napi_ok || !(id > 0)) {
    napi_throw_type_error(env, NULL, "reply: bad request id");
    return -1;
  }
  rc->req = qfs_slot_take(rc->s, (uint64_t)id, &rc->aux);
  return rc->req == NULL ? 1 : 0;
}

/* The request is ours but an argument is malformed: answer EIO so it is not lost, then throw. */
static napi_value reply_bad_arg(reply_ctx *rc, const char *what) {
  fuse_reply_err(rc->req, EIO);
  napi_throw_type_error(rc->env, NULL, what);
  return NULL;
}

static napi_value ret_int(napi_env env, int v) {
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value ret_null(napi_env env) {
  napi_value r;
  napi_get_null(env, &r);
  return r;
}

static int get_f64(napi_env env, napi_value v, const double **out, size_t *len) {
  napi_typedarray_type type;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off) != napi_ok) return -1;
  if (type != napi_float64_array) return -1;
  *out = data;
  return 0;
}

static int get_bytes(napi_env env, napi_value v, const char **out, size_t *len) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined || t == napi_null) {
    *out = NULL;
    *len = 0;
    return 0;
  }
  napi_typedarray_type type;
  void *data;
  napi_value ab;
  size_t off, n;
  if (napi_get_typedarray_info(env, v, &type, &n, &data, &ab, &off) != napi_ok) return -1;
  if (type != napi_uint8_array) return -1;
  *out = data;
  *len = n;
  return 0;
}

/* A name or symlink target handed over as a Uint8Array: copied into a malloc'd NUL-terminated
 * string (*out stays NULL when out of memory). -1 if v is not bytes or holds a NUL, which no
 * name or target may contain. */
static int copy_bytes_z(napi_env env, napi_value v, char **out) {
  const char *data;
  size_t n;
  *out = NULL;
  if (get_bytes(env, v, &data, &n) != 0 || data == NULL || memchr(data, 0, n) != NULL) return -1;
  *out = malloc(n + 1);
  if (*out == NULL) return 0;
  memcpy(*out, data, n);
  (*out)[n] = '\0';
  return 0;
}

static int get_num(napi_env env, napi_value v, double *out) {
  return napi_get_value_double(env, v, out) == napi_ok ? 0 : -1;
}

#define BEGIN(min)                                                             \
  reply_ctx rc;                                                                \
  int begun = reply_begin(env, info, &rc, (min));                              \
  if (begun < 0) return NULL;                                                  \
  if (begun > 0) return ret_null(env);

/* ---------------------------------------------------------------- replies */

/* replyErr(h, id, errno): errno 0 means success without data. */
static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  BEGIN(3);
  double e;
  if (get_num(env, rc.argv[2], &e) != 0) return reply_bad_arg(&rc, "replyErr: errno must be a number");
  int err = (int)e;
  if (err < 0) err = -err;
  return ret_int(env, fuse_reply_err(rc.req, err));
}

/* replyEntry(h, id, entryBlock): ino 0 with entryTimeout is a negative (cached ENOENT) entry. */
static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  BEGIN(3);
  const double *a;
  size_t n;
  if (get_f64(env, rc.argv[2], &a, &n) != 0 || n < E_LEN) return reply_bad_arg(&rc, "replyEntry: bad entry block");
  struct fuse_entry_param e;
  fill_entry(&e, a);
  return ret_int(env, fuse_reply_entry(rc.req, &e));
}

/* replyCreate(h, id, entryBlock, fh, openBits) */
static napi_value js_reply_create(napi_env env, napi_callback_info info) {
  BEGIN(5);
  const double *a;
  size_t n;
  double fh, bits;
  if (get_f64(env, rc.argv[2], &a, &n) != 0 || n < E_LEN || get_num(env, rc.argv[3], &fh) != 0 ||
      get_num(env, rc.argv[4], &bits) != 0)
    return reply_bad_arg(&rc, "replyCreate: bad arguments");
  struct fuse_entry_param e;
  fill_entry(&e, a);
  struct fuse_file_info fi;
  fill_open(&fi, fh, (uint32_t)bits);
  return ret_int(env, fuse_reply_create(rc.req, &e, &fi));
}

/* replyAttr(h, id, attrBlock): the entry-block layout; attrTimeout from E_ATTR_TIMEOUT. */
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  BEGIN(3);
  const double *a;
  size_t n;
  if (get_f64(env, rc.argv[2], &a, &n) != 0 || n < E_LEN) return reply_bad_arg(&rc, "replyAttr: bad attr block");
  struct stat st;
  fill_stat(&st, a);
  return ret_int(env, fuse_reply_attr(rc.req, &st, timeout_of(a[E_ATTR_TIMEOUT])));
}

/* replyReadlink(h, id, target: Buffer) -- the target's bytes, without a NUL. */
static napi_value js_reply_readlink(napi_env env, napi_callback_info info) {
  BEGIN(3);
  char *target = NULL;
  if (copy_bytes_z(env, rc.argv[2], &target) != 0) return reply_bad_arg(&rc, "replyReadlink: target must be a Buffer without NUL");
  if (target == NULL) return ret_int(env, fuse_reply_err(rc.req, ENOMEM));
  int r = fuse_reply_readlink(rc.req, target);
  free(target);
  return ret_int(env, r);
}

/* replyOpen(h, id, fh, openBits) */
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  BEGIN(4);
  double fh, bits;
  if (get_num(env, rc.argv[2], &fh) != 0 || get_num(env, rc.argv[3], &bits) != 0)
    return reply_bad_arg(&rc, "replyOpen: bad arguments");
  struct fuse_file_info fi;
  fill_open(&fi, fh, (uint32_t)bits);
  return ret_int(env, fuse_reply_open(rc.req, &fi));
}

/* replyWrite(h, id, count) */
static napi_value js_reply_write(napi_env env, napi_callback_info info) {
  BEGIN(3);
  double count;
  if (get_num(env, rc.argv[2], &count) != 0) return reply_bad_arg(&rc, "replyWrite: bad count");
  return ret_int(env, fuse_reply_write(rc.req, (size_t)to_u64(count)));
}

/* replyBuf(h, id, bytes | null): never more than the kernel asked for (read, xattr). */
static napi_value js_reply_buf(napi_env env, napi_callback_info info) {
  BEGIN(3);
  const char *data;
  size_t len;
  if (get_bytes(env, rc.argv[2], &data, &len) != 0) return reply_bad_arg(&rc, "replyBuf: expected a Uint8Array");
  if (rc.aux > 0 && len > rc.aux) len = rc.aux;
  return ret_int(env, fuse_reply_buf(rc.req, data, len));
}

/* replyXattrSize(h, id, size): answer to a size probe (getxattr/listxattr with size 0). */
static napi_value js_reply_xattr(napi_env env, napi_callback_info info) {
  BEGIN(3);
  double count;
  if (get_num(env, rc.argv[2], &count) != 0) return reply_bad_arg(&rc, "replyXattrSize: bad size");
  return ret_int(env, fuse_reply_xattr(rc.req, (size_t)to_u64(count)));
}

/* replyStatfs(h, id, [bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax]) */
static napi_value js_reply_statfs(napi_env env, napi_callback_info info) {
  BEGIN(3);
  const double *a;
  size_t n;
  if (get_f64(env, rc.argv[2], &a, &n) != 0 || n < 11) return reply_bad_arg(&rc, "replyStatfs: bad block");
  struct statvfs st;
  memset(&st, 0, sizeof(st));
  st.f_bsize = to_u64(a[0]);
  st.f_frsize = to_u64(a[1]);
  st.f_blocks = to_u64(a[2]);
  st.f_bfree = to_u64(a[3]);
  st.f_bavail = to_u64(a[4]);
  st.f_files = to_u64(a[5]);
  st.f_ffree = to_u64(a[6]);
  st.f_favail = to_u64(a[7]);
  st.f_fsid = to_u64(a[8]);
  st.f_flag = to_u64(a[9]);
  st.f_namemax = to_u64(a[10]);
  return ret_int(env, fuse_reply_statfs(rc.req, &st));
}

/* replyLock(h, id, type, start, len, pid): len 0 means "to end of file". */
static napi_value js_reply_lock(napi_env env, napi_callback_info info) {
  BEGIN(6);
  double type, start, len, pid;
  if (get_num(env, rc.argv[2], &type) != 0 || get_num(env, rc.argv[3], &start) != 0 ||
      get_num(env, rc.argv[4], &len) != 0 || get_num(env, rc.argv[5], &pid) != 0)
    return reply_bad_arg(&rc, "replyLock: bad arguments");
  struct flock lk;
  memset(&lk, 0, sizeof(lk));
  lk.l_type = (short)type;
  lk.l_whence = SEEK_SET;
  lk.l_start = (off_t)to_i64(start);
  lk.l_len = (off_t)to_i64(len);
  lk.l_pid = (pid_t)pid;
  return ret_int(env, fuse_reply_lock(rc.req, &lk));
}

/* replyLseek(h, id, offset) */
static napi_value js_reply_lseek(napi_env env, napi_callback_info info) {
  BEGIN(3);
  double off;
  if (get_num(env, rc.argv[2], &off) != 0) return reply_bad_arg(&rc, "replyLseek: bad offset");
  return ret_int(env, fuse_reply_lseek(rc.req, (off_t)to_i64(off)));
}

/* replyDirents(h, id, plus, names: Buffer[], numbers: Float64Array) -> entries packed.
 * Packs entries in order until the next one would not fit in the size the kernel asked for;
 * the rest are left out (the kernel asks again from the last offset packed). */
static napi_value js_reply_dirents(napi_env env, napi_callback_info info) {
  BEGIN(5);
  bool plus = false;
  const double *nums;
  size_t nnums;
  uint32_t count = 0;
  if (napi_get_value_bool(env, rc.argv[2], &plus) != napi_ok || napi_get_array_length(env, rc.argv[3], &count) != napi_ok ||
      get_f64(env, rc.argv[4], &nums, &nnums) != 0)
    return reply_bad_arg(&rc, "replyDirents: bad arguments");
  size_t stride = plus ? DIRENT_PLUS_STRIDE : DIRENT_STRIDE;
  if (nnums < (size_t)count * stride) return reply_bad_arg(&rc, "replyDirents: numbers too short");
  size_t cap = rc.aux;
  if (cap == 0) return ret_int(env, fuse_reply_buf(rc.req, NULL, 0));
  char *buf = malloc(cap);
  if (buf == NULL) return ret_int(env, fuse_reply_err(rc.req, ENOMEM));
  size_t used = 0;
  uint32_t packed = 0;
  char name_stack[256];
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    bool is_buffer = false;
    void *bytes = NULL;
    size_t len = 0;
    if (napi_get_element(env, rc.argv[3], i, &v) != napi_ok || napi_is_buffer(env, v, &is_buffer) != napi_ok ||
        !is_buffer || napi_get_buffer_info(env, v, &bytes, &len) != napi_ok || memchr(bytes, 0, len) != NULL) {
      free(buf);
      return reply_bad_arg(&rc, "replyDirents: names must be Buffers without NUL");
    }
    char *name = len < sizeof(name_stack) ? name_stack : malloc(len + 1);
    if (name == NULL) break;
    memcpy(name, bytes, len);
    name[len] = '\0';
    const double *row = nums + (size_t)i * stride;
    size_t need;
    if (plus) {
      struct fuse_entry_param e;
      fill_entry(&e, row + 1);
      need = fuse_add_direntry_plus(rc.req, buf + used, cap - used, name, &e, (off_t)to_i64(row[0]));
    } else {
      struct stat st;
      memset(&st, 0, sizeof(st));
      st.st_ino = to_u64(row[0]);
      st.st_mode = (mode_t)to_u64(row[1]);
      need = fuse_add_direntry(rc.req, buf + used, cap - used, name, &st, (off_t)to_i64(row[2]));
    }
    if (name != name_stack) free(name);
    if (need > cap - used) break;
    used += need;
    packed++;
  }
  int r = fuse_reply_buf(rc.req, buf, used);
  free(buf);
  return ret_int(env, r < 0 ? r : (int)packed);
}

napi_status qfs_define_replies(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"replyErr", NULL, js_reply_err, NULL, NULL, NULL, napi_default, NULL},
      {"replyEntry", NULL, js_reply_entry, NULL, NULL, NULL, napi_default, NULL},
      {"replyCreate", NULL, js_reply_create, NULL, NULL, NULL, napi_default, NULL},
      {"replyAttr", NULL, js_reply_attr, NULL, NULL, NULL, napi_default, NULL},
      {"replyReadlink", NULL, js_reply_readlink, NULL, NULL, NULL, napi_default, NULL},
      {"replyOpen", NULL, js_reply_open, NULL, NULL, NULL, napi_default, NULL},
      {"replyWrite", NULL, js_reply_write, NULL, NULL, NULL, napi_default, NULL},
      {"replyBuf", NULL, js_reply_buf, NULL, NULL, NULL, napi_default, NULL},
      {"replyXattrSize", NULL, js_reply_xattr, NULL, NULL, NULL, napi_default, NULL},
      {"replyStatfs", NULL, js_reply_statfs, NULL, NULL, NULL, napi_default, NULL},
      {"replyLock", NULL, js_reply_lock, NULL, NULL, NULL, napi_default, NULL},
      {"replyLseek", NULL, js_reply_lseek, NULL, NULL, NULL, napi_default, NULL},
      {"replyDirents", NULL, js_reply_dirents, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
