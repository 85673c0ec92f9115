/*
 * Session lifecycle of the quorumfs FUSE binding: create, mount, run the multi-threaded session
 * loop on native threads, exit, and tear down. Invariants: the threadsafe function is released
 * only after every native thread that posts to it has been joined; the device fd is closed
 * (fuse_session_unmount) only on the JS thread, the one thread that writes replies, after the
 * loop has returned and every pending request has been answered; the session memory is freed
 * only when both the JS handle and the threadsafe function are gone.
 */
#include "qfs_fuse.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- libfuse log capture */

#define QFS_LOG_BYTES 512
/* libfuse reports errors (bad options, bad mount point) through its log hook; we keep the last
 * one per thread to put into the JS error instead of printing to stderr. */
static __thread char g_last_log[QFS_LOG_BYTES];

static void log_func(enum fuse_log_level level, const char *fmt, va_list ap) {
  if (level > FUSE_LOG_ERR) return;
  vsnprintf(g_last_log, sizeof(g_last_log), fmt, ap);
  size_t n = strlen(g_last_log);
  while (n > 0 && (g_last_log[n - 1] == '\n' || g_last_log[n - 1] == ' ')) g_last_log[--n] = '\0';
}

/* ---------------------------------------------------------------- wake signal */

/* fuse_session_loop_mt waits in sem_wait until a worker ends; after fuse_session_exit nothing
 * ends on an idle mount, so exit() interrupts the loop thread with this signal. Its handler does
 * nothing; installed without SA_RESTART so the wait returns EINTR. Only ever sent with
 * pthread_kill to our own loop thread. */
static pthread_once_t g_wake_once = PTHREAD_ONCE_INIT;
static int g_wake_sig = 0;

static void wake_handler(int sig) { (void)sig; }

static void wake_install_once(void) {
  g_wake_sig = SIGRTMIN + 4;
  struct sigaction old;
  if (sigaction(g_wake_sig, NULL, &old) != 0) return;
  if (old.sa_handler == SIG_DFL) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wake_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(g_wake_sig, &sa, NULL);
  }
}

void qfs_wake_signal_install(void) { pthread_once(&g_wake_once, wake_install_once); }
int qfs_wake_signal(void) { return g_wake_sig; }

/* ---------------------------------------------------------------- messages */

void qfs_msg_free(qfs_msg *m) {
  if (m == NULL) return;
  free(m->s1);
  free(m->s2);
  free(m->data);
  free(m->f64);
  free(m->forgets);
  free(m);
}

int qfs_post(qfs_session *s, qfs_msg *m) {
  /* Non-blocking with an unbounded queue: a FUSE worker never waits for JavaScript. */
  napi_status st = napi_call_threadsafe_function(s->tsfn, m, napi_tsfn_nonblocking);
  return st == napi_ok ? 0 : -1;
}

/* ---------------------------------------------------------------- handle / free */

/* The JS handle points at this; the session is freed when both owners (the JS external and
 * the threadsafe function) are finalized. Both finalizers run on the JS thread. */
typedef struct qfs_handle {
  qfs_session *s;
  int refs;
} qfs_handle;

qfs_session *qfs_unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "expected a quorumfs FUSE session handle");
    return NULL;
  }
  return ((qfs_handle *)data)->s;
}

static void session_free(qfs_session *s) {
  pthread_mutex_destroy(&s->state_lock);
  pthread_mutex_destroy(&s->slots_lock);
  pthread_mutex_destroy(&s->notify_lock);
  pthread_cond_destroy(&s->notify_cond);
  free(s->slots);
  free(s->mountpoint);
  free(s);
}

/* ---------------------------------------------------------------- teardown */

static void env_cleanup(void *arg);

/* Finishes a session whose loop has returned (or never ran): device fd closed and mount
 * point released, libfuse session destroyed, threadsafe function released. JS thread only.
 * Idempotent. */
static void session_finish(qfs_session *s, int release_tsfn) {
  pthread_mutex_lock(&s->state_lock);
  int state = s->state;
  if (state == QFS_DESTROYED) {
    pthread_mutex_unlock(&s->state_lock);
    return;
  }
  s->state = QFS_DESTROYED;
  pthread_mutex_unlock(&s->state_lock);

  if (s->loop_started && !s->loop_joined) {
    pthread_join(s->loop_thread, NULL);
    s->loop_joined = 1;
  }
  qfs_notify_stop(s);
  /* Requests still pending (possible only if the loop never ran) are answered now. */
  qfs_slots_drop_all(s, ENOTCONN);
  if (s->se != NULL) {
    if (s->loop_started) fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    s->se = NULL;
  }
  if (s->cleanup_hook) {
    s->cleanup_hook = 0;
    napi_remove_env_cleanup_hook(s->env, env_cleanup, s);
  }
  if (release_tsfn && !s->tsfn_released) {
    s->tsfn_released = 1;
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  }
}

void qfs_session_on_ended(qfs_session *s) { session_finish(s, 1); }

static void request_exit(qfs_session *s) {
  pthread_mutex_lock(&s->state_lock);
  if (s->state == QFS_RUNNING) s->state = QFS_EXITING;
  int running = s->state == QFS_EXITING && s->loop_started && !s->loop_joined;
  if (running && s->se != NULL) fuse_session_exit(s->se);
  if (running) pthread_kill(s->loop_thread, qfs_wake_signal());
  pthread_mutex_unlock(&s->state_lock);
}

/* The Node environment is going away with the session still up (process.exit() without
 * unmount): stop the loop synchronously so the mount does not outlive the process. */
static void env_cleanup(void *arg) {
  qfs_session *s = arg;
  s->cleanup_hook = 0; /* Node drops the hook once it has run */
  int running;
  pthread_mutex_lock(&s->state_lock);
  running = s->loop_started && !s->loop_joined;
  pthread_mutex_unlock(&s->state_lock);
  if (running) {
    const int max_wait_ms = 5000;
    const int step_ms = 20;
    for (int waited = 0; waited < max_wait_ms; waited += step_ms) {
      request_exit(s);
      struct timespec deadline;
      clock_gettime(CLOCK_REALTIME, &deadline);
      deadline.tv_nsec += step_ms * 1000000L;
      if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
      }
      if (pthread_timedjoin_np(s->loop_thread, NULL, &deadline) == 0) {
        s->loop_joined = 1;
        break;
      }
    }
  }
  if (!s->loop_started || s->loop_joined) session_finish(s, 0);
}

/* ---------------------------------------------------------------- threads */

static void block_signals(int allow_wake) {
  sigset_t set;
  sigfillset(&set);
  if (allow_wake) sigdelset(&set, qfs_wake_signal());
  pthread_sigmask(SIG_SETMASK, &set, NULL);
}

static void *loop_main(void *arg) {
  qfs_session *s = arg;
  block_signals(1);
  struct fuse_loop_config *cfg = fuse_loop_cfg_create();
  int rc;
  if (cfg == NULL) {
    rc = -ENOMEM;
  } else {
    fuse_loop_cfg_set_clone_fd(cfg, s->cfg.clone_fd ? 1 : 0);
    fuse_loop_cfg_set_idle_threads(cfg, (unsigned)(s->cfg.max_idle_threads < 0 ? -1 : s->cfg.max_idle_threads));
    if (s->cfg.max_threads > 0) fuse_loop_cfg_set_max_threads(cfg, s->cfg.max_threads);
    rc = fuse_session_loop_mt(s->se, cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  s->loop_result = rc;
  pthread_mutex_lock(&s->state_lock);
  if (s->state == QFS_RUNNING || s->state == QFS_EXITING) s->state = QFS_ENDED;
  pthread_mutex_unlock(&s->state_lock);
  /* No worker is left: nothing can be added to the table any more. Answer what JavaScript
   * still holds so callers and kernel locks are released; its late replies become no-ops. */
  qfs_slots_drop_all(s, ENOTCONN);
  qfs_notify_stop(s);
  qfs_msg *m = calloc(1, sizeof(*m));
  if (m != NULL) {
    m->op = QFS_MSG_ENDED;
    m->n[0] = rc;
    m->nargs = 1;
    if (qfs_post(s, m) != 0) qfs_msg_free(m);
  }
  return NULL;
}

/* ---------------------------------------------------------------- JS: create */

static int get_u32_prop(napi_env env, napi_value obj, const char *name, unsigned *out, unsigned dflt) {
  bool has = false;
  *out = dflt;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
  napi_value v;
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return -1;
  napi_typeof(env, v, &t);
  if (t == napi_undefined) return 0;
  if (t == napi_boolean) {
    bool b;
    napi_get_value_bool(env, v, &b);
    *out = b ? 1 : 0;
    return 0;
  }
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return -1;
  *out = d < 0 ? 0 : (d > 4294967295.0 ? 4294967295u : (unsigned)d);
  return 0;
}

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *buf = malloc(len + 1);
  if (buf == NULL) return NULL;
  if (napi_get_value_string_utf8(env, v, buf, len + 1, &len) != napi_ok) {
    free(buf);
    return NULL;
  }
  return buf;
}

static void tsfn_finalize(napi_env env, void *data, void *hint);
static void external_finalize(napi_env env, void *data, void *hint);

/* create({ mountpoint, args: string[], ops: number[], conn: {...}, dispatch }) -> handle.
 * Parses the mount options (fuse_session_new) but does not mount. */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  QFS_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "create(options) needs an options object");
    return NULL;
  }
  napi_value opts = argv[0];
  napi_value v_mp, v_args, v_ops, v_conn, v_dispatch;
  QFS_CHECK(env, napi_get_named_property(env, opts, "mountpoint", &v_mp));
  QFS_CHECK(env, napi_get_named_property(env, opts, "args", &v_args));
  QFS_CHECK(env, napi_get_named_property(env, opts, "ops", &v_ops));
  QFS_CHECK(env, napi_get_named_property(env, opts, "conn", &v_conn));
  QFS_CHECK(env, napi_get_named_property(env, opts, "dispatch", &v_dispatch));

  qfs_session *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  s->env = env;
  s->free_head = UINT32_MAX;
  s->accepting = 1;
  pthread_mutex_init(&s->state_lock, NULL);
  pthread_mutex_init(&s->slots_lock, NULL);
  pthread_mutex_init(&s->notify_lock, NULL);
  pthread_cond_init(&s->notify_cond, NULL);
  s->mountpoint = get_string(env, v_mp);

  qfs_conn_config *c = &s->cfg;
  unsigned u;
  get_u32_prop(env, v_conn, "maxWriteBytes", &c->max_write_bytes, 1u << 20);
  get_u32_prop(env, v_conn, "maxReadaheadBytes", &c->max_readahead_bytes, 1u << 20);
  get_u32_prop(env, v_conn, "maxBackground", &c->max_background, 64);
  get_u32_prop(env, v_conn, "congestionThreshold", &c->congestion_threshold, 48);
  get_u32_prop(env, v_conn, "writebackCache", &u, 0), c->writeback_cache = (int)u;
  get_u32_prop(env, v_conn, "splice", &u, 0), c->splice = (int)u;
  get_u32_prop(env, v_conn, "readdirplusAuto", &u, 1), c->readdirplus_auto = (int)u;
  get_u32_prop(env, v_conn, "handleKillpriv", &u, 1), c->handle_killpriv = (int)u;
  get_u32_prop(env, v_conn, "atomicOTrunc", &u, 0), c->atomic_o_trunc = (int)u;
  get_u32_prop(env, v_conn, "autoInvalData", &u, 1), c->auto_inval_data = (int)u;
  get_u32_prop(env, v_conn, "cacheSymlinks", &u, 0), c->cache_symlinks = (int)u;
  get_u32_prop(env, v_conn, "asyncDio", &u, 1), c->async_dio = (int)u;
  get_u32_prop(env, v_conn, "maxThreads", &c->max_threads, 8);
  get_u32_prop(env, v_conn, "maxIdleThreads", &u, 4), c->max_idle_threads = (int)u;
  get_u32_prop(env, v_conn, "cloneFd", &u, 0), c->clone_fd = (int)u;

  int enabled[QFS_OP_COUNT];
  memset(enabled, 0, sizeof(enabled));
  uint32_t nops = 0;
  napi_get_array_length(env, v_ops, &nops);
  for (uint32_t i = 0; i < nops; i++) {
    napi_value e;
    int32_t code;
    if (napi_get_element(env, v_ops, i, &e) == napi_ok && napi_get_value_int32(env, e, &code) == napi_ok &&
        code > 0 && code < QFS_OP_COUNT)
      enabled[code] = 1;
  }
  qfs_build_ops(&s->ops, enabled);

  uint32_t nargs = 0;
  napi_get_array_length(env, v_args, &nargs);
  char **fargv = calloc((size_t)nargs + 2, sizeof(char *));
  int ok = fargv != NULL && s->mountpoint != NULL;
  if (ok) {
    fargv[0] = strdup("quorumfs");
    ok = fargv[0] != NULL;
  }
  for (uint32_t i = 0; ok && i < nargs; i++) {
    napi_value e;
    ok = napi_get_element(env, v_args, i, &e) == napi_ok && (fargv[i + 1] = get_string(env, e)) != NULL;
  }
  if (ok) {
    struct fuse_args fargs = FUSE_ARGS_INIT((int)nargs + 1, fargv);
    g_last_log[0] = '\0';
    s->se = fuse_session_new(&fargs, &s->ops, sizeof(s->ops), s);
    fuse_opt_free_args(&fargs);
  }
  if (fargv != NULL) {
    for (uint32_t i = 0; i < nargs + 1; i++) free(fargv[i]);
    free(fargv);
  }
  if (s->se == NULL) {
    char msg[QFS_LOG_BYTES + 64];
    snprintf(msg, sizeof(msg), "fuse_session_new failed%s%s", g_last_log[0] ? ": " : "", g_last_log);
    session_free(s);
    napi_throw_error(env, "EINVAL", msg);
    return NULL;
  }

  qfs_handle *h = calloc(1, sizeof(*h));
  if (h == NULL) {
    fuse_session_destroy(s->se);
    session_free(s);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  h->s = s;
  h->refs = 2;

  napi_value name;
  napi_create_string_utf8(env, "quorumfs.fuse", NAPI_AUTO_LENGTH, &name);
  napi_status st = napi_create_threadsafe_function(env, v_dispatch, NULL, name, 0, 1, h, tsfn_finalize, s,
                                                   qfs_call_js, &s->tsfn);
  if (st != napi_ok) {
    fuse_session_destroy(s->se);
    session_free(s);
    free(h);
    napi_throw_error(env, NULL, "napi_create_threadsafe_function failed");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_cleanup, s);
  s->cleanup_hook = 1;

  napi_value ext;
  QFS_CHECK(env, napi_create_external(env, h, external_finalize, NULL, &ext));
  return ext;
}

static void handle_unref(qfs_handle *h) {
  if (--h->refs > 0) return;
  session_free(h->s);
  free(h);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  qfs_handle *h = data;
  h->s->tsfn_released = 1;
  handle_unref(h);
}

static void external_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  qfs_handle *h = data;
  qfs_session *s = h->s;
  /* A session dropped before it ever ran still holds its tsfn: release it so Node can exit. */
  if (s->state == QFS_CREATED) session_finish(s, 1);
  handle_unref(h);
}

/* ---------------------------------------------------------------- JS: mount */

typedef struct mount_work {
  napi_async_work work;
  napi_deferred deferred;
  qfs_session *s;
  int rc;
  char log[QFS_LOG_BYTES];
} mount_work;

static void mount_execute(napi_env env, void *data) {
  (void)env;
  mount_work *w = data;
  g_last_log[0] = '\0';
  w->rc = fuse_session_mount(w->s->se, w->s->mountpoint);
  snprintf(w->log, sizeof(w->log), "%s", g_last_log);
}

static int start_threads(qfs_session *s) {
  if (qfs_notify_start(s) != 0) return -1;
  sigset_t all, old;
  sigfillset(&all);
  /* New threads inherit the creator's mask: start them with every signal blocked so Node's
   * signal handling stays on the main thread; the loop thread then unblocks the wake signal. */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&s->loop_thread, NULL, loop_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) return -1;
  s->loop_started = 1;
  return 0;
}

static void mount_complete(napi_env env, napi_status status, void *data) {
  mount_work *w = data;
  qfs_session *s = w->s;
  napi_value result;
  if (status == napi_ok && w->rc == 0) {
    pthread_mutex_lock(&s->state_lock);
    s->state = QFS_RUNNING;
    int rc = start_threads(s);
    pthread_mutex_unlock(&s->state_lock);
    if (rc == 0) {
      napi_get_undefined(env, &result);
      napi_resolve_deferred(env, w->deferred, result);
    } else {
      napi_value msg;
      napi_create_string_utf8(env, "could not start the FUSE session threads", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &result);
      napi_reject_deferred(env, w->deferred, result);
    }
  } else {
    pthread_mutex_lock(&s->state_lock);
    s->state = QFS_CREATED;
    pthread_mutex_unlock(&s->state_lock);
    char text[QFS_LOG_BYTES + 64];
    snprintf(text, sizeof(text), "mount failed%s%s", w->log[0] ? ": " : "", w->log);
    napi_value msg;
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &result);
    napi_reject_deferred(env, w->deferred, result);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  QFS_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  qfs_session *s = qfs_unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  pthread_mutex_lock(&s->state_lock);
  int state = s->state;
  if (state == QFS_CREATED) s->state = QFS_MOUNTING;
  pthread_mutex_unlock(&s->state_lock);
  if (state != QFS_CREATED) {
    napi_throw_error(env, NULL, "session is not in the created state");
    return NULL;
  }
  mount_work *w = calloc(1, sizeof(*w));
  if (w == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  w->s = s;
  napi_value promise, name;
  QFS_CHECK(env, napi_create_promise(env, &w->deferred, &promise));
  napi_create_string_utf8(env, "quorumfs.fuse.mount", NAPI_AUTO_LENGTH, &name);
  QFS_CHECK(env, napi_create_async_work(env, NULL, name, mount_execute, mount_complete, w, &w->work));
  QFS_CHECK(env, napi_queue_async_work(env, w->work));
  return promise;
}

/* exit(handle): asks the session loop to return; idempotent, safe to repeat (each call re-sends
 * the wake signal). The end is reported to the dispatcher as an ENDED message. */
static napi_value js_exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  QFS_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  qfs_session *s = qfs_unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  request_exit(s);
  napi_value r;
  napi_get_boolean(env, s->state == QFS_EXITING || s->state == QFS_ENDED, &r);
  return r;
}

/* destroy(handle): releases a session that is not running (never mounted or mount failed). */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  QFS_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  qfs_session *s = qfs_unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  napi_value r;
  int can = s->state == QFS_CREATED;
  if (can) session_finish(s, 1);
  napi_get_boolean(env, can, &r);
  return r;
}

static napi_value js_pending(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  QFS_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  qfs_session *s = qfs_unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  pthread_mutex_lock(&s->slots_lock);
  uint32_t n = s->slots_used_count;
  pthread_mutex_unlock(&s->slots_lock);
  napi_value r;
  napi_create_uint32(env, n, &r);
  return r;
}

static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, fuse_version(), &r);
  return r;
}

static napi_value init_module(napi_env env, napi_value exports) {
  fuse_set_log_func(log_func);
  qfs_wake_signal_install();
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL},
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"exit", NULL, js_exit, NULL, NULL, NULL, napi_default, NULL},
      {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
      {"pendingCount", NULL, js_pending, NULL, NULL, NULL, napi_default, NULL},
      {"fuseVersion", NULL, js_version, NULL, NULL, NULL, napi_default, NULL},
      {"notify", NULL, qfs_js_notify, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  if (qfs_define_replies(env, exports) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
