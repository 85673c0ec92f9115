/*
 * Kernel cache notifications (inval_inode, inval_entry, delete, expire_entry) run on one
 * dedicated thread per session, never on the JS thread: the kernel may block a notification
 * until requests it is waiting on are answered (e.g. it takes the directory lock held by a
 * pending lookup), and only the JS thread answers them. Results come back as NOTIFY_DONE
 * messages. Jobs still queued when the session ends complete with -ENOTCONN.
 */
#include "qfs_fuse.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

enum { NOTIFY_INVAL_INODE = 0, NOTIFY_INVAL_ENTRY = 1, NOTIFY_DELETE = 2, NOTIFY_EXPIRE_ENTRY = 3 };

static void post_done(qfs_session *s, uint64_t id, int rc) {
  qfs_msg *m = calloc(1, sizeof(*m));
  if (m == NULL) return;
  m->op = QFS_MSG_NOTIFY_DONE;
  m->id = id;
  m->n[0] = rc;
  m->nargs = 1;
  if (qfs_post(s, m) != 0) qfs_msg_free(m);
}

static int run_job(qfs_session *s, qfs_notify_job *j) {
  size_t namelen = j->name != NULL ? strlen(j->name) : 0;
  switch (j->kind) {
    case NOTIFY_INVAL_INODE:
      return fuse_lowlevel_notify_inval_inode(s->se, j->ino, j->off, j->len);
    case NOTIFY_INVAL_ENTRY:
      return fuse_lowlevel_notify_inval_entry(s->se, j->parent, j->name, namelen);
    case NOTIFY_DELETE:
      return fuse_lowlevel_notify_delete(s->se, j->parent, j->child, j->name, namelen);
    case NOTIFY_EXPIRE_ENTRY:
      return fuse_lowlevel_notify_expire_entry(s->se, j->parent, j->name, namelen, FUSE_LL_EXPIRE_ONLY);
    default:
      return -EINVAL;
  }
}

static void free_job(qfs_notify_job *j) {
  free(j->name);
  free(j);
}

static void *notify_main(void *arg) {
  qfs_session *s = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  for (;;) {
    pthread_mutex_lock(&s->notify_lock);
    while (s->notify_head == NULL && !s->notify_stop) pthread_cond_wait(&s->notify_cond, &s->notify_lock);
    if (s->notify_stop) {
      qfs_notify_job *rest = s->notify_head;
      s->notify_head = s->notify_tail = NULL;
      pthread_mutex_unlock(&s->notify_lock);
      while (rest != NULL) {
        qfs_notify_job *next = rest->next;
        post_done(s, rest->id, -ENOTCONN);
        free_job(rest);
        rest = next;
      }
      return NULL;
    }
    qfs_notify_job *j = s->notify_head;
    s->notify_head = j->next;
    if (s->notify_head == NULL) s->notify_tail = NULL;
    pthread_mutex_unlock(&s->notify_lock);
    int rc = run_job(s, j);
    post_done(s, j->id, rc);
    free_job(j);
  }
}

int qfs_notify_start(qfs_session *s) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&s->notify_thread, NULL, notify_main, s);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) return -1;
  s->notify_started = 1;
  return 0;
}

/* Stops and joins the notification thread; safe to call more than once (sequentially). */
void qfs_notify_stop(qfs_session *s) {
  pthread_mutex_lock(&s->notify_lock);
  int join = s->notify_started && !s->notify_stop;
  s->notify_stop = 1;
  pthread_cond_signal(&s->notify_cond);
  pthread_mutex_unlock(&s->notify_lock);
  if (join) pthread_join(s->notify_thread, NULL);
}

/* notify(handle, kind, id, a, b, c, name?) -> 0 when queued, else a positive errno.
 * kind 0: inval_inode(ino=a, off=b, len=c); 1: inval_entry(parent=a, name);
 * 2: delete(parent=a, child=b, name); 3: expire_entry(parent=a, name). */
napi_value qfs_js_notify(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  QFS_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, NULL, "notify(handle, kind, id, a, b, c, name?)");
    return NULL;
  }
  qfs_session *s = qfs_unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  int32_t kind;
  double id, a, b, c;
  QFS_CHECK(env, napi_get_value_int32(env, argv[1], &kind));
  QFS_CHECK(env, napi_get_value_double(env, argv[2], &id));
  QFS_CHECK(env, napi_get_value_double(env, argv[3], &a));
  QFS_CHECK(env, napi_get_value_double(env, argv[4], &b));
  QFS_CHECK(env, napi_get_value_double(env, argv[5], &c));
  napi_value result;
  qfs_notify_job *j = calloc(1, sizeof(*j));
  if (j == NULL) {
    napi_create_int32(env, ENOMEM, &result);
    return result;
  }
  j->id = (uint64_t)id;
  j->kind = kind;
  j->ino = (uint64_t)a;
  j->parent = (uint64_t)a;
  j->child = (uint64_t)b;
  j->off = (int64_t)b;
  j->len = (int64_t)c;
  if (kind != NOTIFY_INVAL_INODE) {
    if (argc < 7) {
      free(j);
      napi_throw_type_error(env, NULL, "notify: this kind needs a name");
      return NULL;
    }
    /* The name's bytes as given (a Buffer): names need not be UTF-8. */
    bool is_buffer = false;
    void *bytes = NULL;
    size_t len = 0;
    if (napi_is_buffer(env, argv[6], &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, argv[6], &bytes, &len) != napi_ok || memchr(bytes, 0, len) != NULL) {
      free(j);
      napi_throw_type_error(env, NULL, "notify: the name must be a Buffer without NUL");
      return NULL;
    }
    j->name = malloc(len + 1);
    if (j->name == NULL) {
      free(j);
      napi_create_int32(env, ENOMEM, &result);
      return result;
    }
    memcpy(j->name, bytes, len);
    j->name[len] = '\0';
  }
  int rc = 0;
  pthread_mutex_lock(&s->state_lock);
  int running = s->state == QFS_RUNNING;
  pthread_mutex_unlock(&s->state_lock);
  pthread_mutex_lock(&s->notify_lock);
  if (!running || !s->notify_started || s->notify_stop) {
    rc = ENOTCONN;
  } else {
    if (s->notify_tail != NULL) s->notify_tail->next = j;
    else s->notify_head = j;
    s->notify_tail = j;
    pthread_cond_signal(&s->notify_cond);
  }
  pthread_mutex_unlock(&s->notify_lock);
  if (rc != 0) free_job(j);
  napi_create_int32(env, rc, &result);
  return result;
}
