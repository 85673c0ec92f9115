/*
 * quorumfs FUSE binding: shared declarations of the native side.
 * One qfs_session wraps one libfuse3 low-level session. FUSE worker threads never block on
 * JavaScript: each request gets a slot in the session's request table and is posted to the JS
 * thread through a threadsafe function; JS answers later by request id. A slot is taken exactly
 * once (reply, drop at teardown), so every request is answered exactly once.
 */
#ifndef QFS_FUSE_H
#define QFS_FUSE_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>

/* Operation codes shared with src/fuse/fuse-ops.ts (keep both in step). */
enum qfs_op {
  QFS_OP_INIT = 0,
  QFS_OP_LOOKUP = 1,
  QFS_OP_FORGET = 2,
  QFS_OP_GETATTR = 3,
  QFS_OP_SETATTR = 4,
  QFS_OP_READLINK = 5,
  QFS_OP_MKNOD = 6,
  QFS_OP_MKDIR = 7,
  QFS_OP_UNLINK = 8,
  QFS_OP_RMDIR = 9,
  QFS_OP_SYMLINK = 10,
  QFS_OP_RENAME = 11,
  QFS_OP_LINK = 12,
  QFS_OP_OPEN = 13,
  QFS_OP_READ = 14,
  QFS_OP_WRITE = 15,
  QFS_OP_FLUSH = 16,
  QFS_OP_RELEASE = 17,
  QFS_OP_FSYNC = 18,
  QFS_OP_OPENDIR = 19,
  QFS_OP_READDIR = 20,
  QFS_OP_RELEASEDIR = 21,
  QFS_OP_FSYNCDIR = 22,
  QFS_OP_STATFS = 23,
  QFS_OP_SETXATTR = 24,
  QFS_OP_GETXATTR = 25,
  QFS_OP_LISTXATTR = 26,
  QFS_OP_REMOVEXATTR = 27,
  QFS_OP_ACCESS = 28,
  QFS_OP_CREATE = 29,
  QFS_OP_GETLK = 30,
  QFS_OP_SETLK = 31,
  QFS_OP_READDIRPLUS = 32,
  QFS_OP_FALLOCATE = 33,
  QFS_OP_COPY_FILE_RANGE = 34,
  QFS_OP_LSEEK = 35,
  QFS_OP_COUNT = 36,
  /* Control messages (never registered as operations). */
  QFS_MSG_ENDED = 40,
  QFS_MSG_INTERRUPT = 41,
  QFS_MSG_NOTIFY_DONE = 42
};

#define QFS_NUM_ARGS 8

/* One message from a native thread to the JS thread. Owned by whoever holds it; freed after
 * delivery (or by the finalizer path when the environment is torn down). */
typedef struct qfs_msg {
  int op;
  uint64_t id; /* request id (0 if none), or notify job id */
  uint32_t uid, gid, pid, umask;
  uint64_t ino;
  int nargs;
  double n[QFS_NUM_ARGS];
  char *s1, *s2;
  void *data; /* write data / xattr value, malloc'd; ownership moves to a JS Buffer */
  size_t data_len;
  int has_data;
  double *f64; /* setattr values, malloc'd */
  size_t f64_len;
  int has_owner;
  uint64_t owner; /* lock owner, as BigInt */
  struct fuse_forget_data *forgets; /* forget_multi batch */
  size_t forget_count;
} qfs_msg;

typedef struct qfs_slot {
  fuse_req_t req;
  uint32_t gen;
  uint32_t used;
  uint32_t aux; /* largest reply size the kernel accepts (read, readdir, xattr), 0 if n/a */
  uint32_t next_free;
} qfs_slot;

enum qfs_state {
  QFS_CREATED = 0,
  QFS_MOUNTING,
  QFS_RUNNING,
  QFS_EXITING,
  QFS_ENDED,
  QFS_DESTROYED
};

typedef struct qfs_notify_job {
  struct qfs_notify_job *next;
  uint64_t id;
  int kind; /* 0 inval_inode, 1 inval_entry, 2 delete */
  uint64_t ino, parent, child;
  int64_t off, len;
  char *name;
} qfs_notify_job;

typedef struct qfs_conn_config {
  unsigned max_write_bytes;
  unsigned max_readahead_bytes;
  unsigned max_background;
  unsigned congestion_threshold;
  int writeback_cache;
  int splice;
  int readdirplus_auto;
  int handle_killpriv;
  int atomic_o_trunc;
  int auto_inval_data;
  int cache_symlinks;
  int async_dio;
  unsigned max_threads;
  int max_idle_threads;
  int clone_fd;
} qfs_conn_config;

typedef struct qfs_session {
  struct fuse_session *se;
  char *mountpoint;
  napi_env env;
  napi_threadsafe_function tsfn;
  int tsfn_released;
  int cleanup_hook;
  qfs_conn_config cfg;
  struct fuse_lowlevel_ops ops;

  pthread_mutex_t state_lock;
  int state;
  int loop_started;
  int loop_joined;
  pthread_t loop_thread;
  int loop_result;

  /* request table */
  pthread_mutex_t slots_lock;
  qfs_slot *slots;
  uint32_t slots_cap;
  uint32_t slots_used_count;
  uint32_t free_head; /* UINT32_MAX when empty */
  int accepting;      /* new requests get slots only while set */

  /* notification worker */
  pthread_mutex_t notify_lock;
  pthread_cond_t notify_cond;
  qfs_notify_job *notify_head, *notify_tail;
  int notify_stop;
  int notify_started;
  pthread_t notify_thread;
} qfs_session;

#define QFS_SLOT_BITS 22
#define QFS_MAX_SLOTS (1u << QFS_SLOT_BITS)
/* Returned by reply functions when the id is not (or no longer) pending. */
#define QFS_REPLY_NOT_PENDING 1

/* session.c */
int qfs_post(qfs_session *s, qfs_msg *m);
void qfs_msg_free(qfs_msg *m);
qfs_session *qfs_unwrap(napi_env env, napi_value v);
void qfs_wake_signal_install(void);
int qfs_wake_signal(void);

void qfs_session_on_ended(qfs_session *s);

/* slots (requests.c) */
int qfs_slot_register(qfs_session *s, fuse_req_t req, uint32_t aux, uint64_t *id_out);
fuse_req_t qfs_slot_take(qfs_session *s, uint64_t id, uint32_t *aux_out);
void qfs_slots_drop_all(qfs_session *s, int err);
void qfs_build_ops(struct fuse_lowlevel_ops *ops, const int *enabled);
void qfs_call_js(napi_env env, napi_value js_cb, void *context, void *data);

/* notify.c */
int qfs_notify_start(qfs_session *s);
void qfs_notify_stop(qfs_session *s);
napi_value qfs_js_notify(napi_env env, napi_callback_info info);

/* replies.c */
napi_status qfs_define_replies(napi_env env, napi_value exports);

/* helpers */
#define QFS_CHECK(env, call)                                                   \
  do {                                                                         \
    napi_status qfs_status_ = (call);                                          \
    if (qfs_status_ != napi_ok) {                                              \
      const napi_extended_error_info *qfs_info_ = NULL;                        \
      napi_get_last_error_info((env), &qfs_info_);                             \
      napi_throw_error((env), NULL,                                            \
                       qfs_info_ && qfs_info_->error_message                   \
                           ? qfs_info_->error_message                          \
                           : "N-API call failed");                             \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

#endif
