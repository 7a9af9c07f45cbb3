// seine_native: what Node cannot do by itself for the agent's kernel work.
//  - AF_NETLINK sockets (rtnetlink, nfnetlink), opened inside a given network namespace;
//  - a blocking request/reply on them (netlink answers in microseconds, so a synchronous call
//    on the main thread costs less than a trip through the thread pool would), and a
//    non-blocking drain of what the kernel sends unasked (NFLOG packets);
//  - writing a sysctl and turning tx checksum offload off inside a namespace.
// Namespaces: setns(2) moves only the calling thread, so every entry point that takes a netns
// path enters it, does its one thing and returns to the thread's original namespace before
// giving control back to JavaScript. If the return fails the process aborts: the main thread
// left in a pod's namespace would silently do everything after it in the wrong place.
// Plain C and N-API only (no nan, no node-addon-api), so it builds for any Node >= 18 and
// cross-compiles with just a C compiler.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <node_api.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, NULL, "seine_native: N-API call failed: " #call); \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

// Throw an Error whose code is the errno's name is left to JS (it knows os.constants.errno);
// here: message "<what>: <strerror>", and a numeric `errno` property.
static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, n;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_throw(env, e);
  return NULL;
}

// ---- namespaces ----------------------------------------------------------------------------

typedef struct {
  int orig; // the thread's own netns, to return to; -1 when no switch was made
} ns_guard;

// Enter the netns at `path` (NULL or "" = stay). Returns 0 or an errno.
static int ns_enter(const char *path, ns_guard *g) {
  g->orig = -1;
  if (path == NULL || path[0] == '\0') return 0;
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) return errno;
  int orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (orig < 0) {
    int e = errno;
    close(target);
    return e;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    int e = errno;
    close(target);
    close(orig);
    return e;
  }
  close(target);
  g->orig = orig;
  return 0;
}

static void ns_leave(ns_guard *g) {
  if (g->orig < 0) return;
  if (setns(g->orig, CLONE_NEWNET) != 0) {
    fprintf(stderr, "seine_native: cannot return to the original network namespace: %s\n", strerror(errno));
    abort();
  }
  close(g->orig);
  g->orig = -1;
}

// ---- argument helpers ----------------------------------------------------------------------

// A string argument, or NULL for undefined/null. Caller frees.
static char *opt_string(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t == napi_undefined || t == napi_null) return NULL;
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

// A string argument into buf; -1 when it is not a string or does not fit with its NUL.
static int arg_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len + 1 > size) return -1;
  return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok ? 0 : -1;
}

// Enter the netns named by a string argument (undefined/null = stay). Returns 0, or -1 with a
// JS error ("setns <path>: <strerror>") already thrown.
static int ns_enter_arg(napi_env env, napi_value arg, ns_guard *g) {
  char *netns = opt_string(env, arg);
  int err = ns_enter(netns, g);
  if (err) {
    char what[600];
    snprintf(what, sizeof what, "setns %s", netns);
    throw_errno(env, what, err);
  }
  free(netns);
  return err ? -1 : 0;
}

// ---- netlink -------------------------------------------------------------------------------

// openSocket(protocol: number, netns: string | undefined, rcvbuf: number) → [fd, portId]
static napi_value open_socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t protocol = 0, rcvbuf = 0;
  CHECK(napi_get_value_int32(env, argv[0], &protocol));
  CHECK(napi_get_value_int32(env, argv[2], &rcvbuf));
  ns_guard g;
  if (ns_enter_arg(env, argv[1], &g)) return NULL;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  int err = fd < 0 ? errno : 0;
  ns_leave(&g);
  if (err) return throw_errno(env, "socket(AF_NETLINK)", err);

  int one = 1;
  // Extended acks carry the kernel's own message ("Nexthop device is not up"), strict checking
  // makes the kernel honour dump filters (and refuse bad ones) instead of ignoring them.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  // A reply that never comes (a request without NLM_F_ACK that the kernel answers with
  // nothing) must not hang the agent's only thread.
  struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  socklen_t salen = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
    err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_NETLINK)", err);
  }
  napi_value out, v;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_element(env, out, 0, v));
  CHECK(napi_create_uint32(env, sa.nl_pid, &v));
  CHECK(napi_set_element(env, out, 1, v));
  return out;
}

// The receive buffer: one datagram of a dump is at most 32 KiB (the kernel's cap on a dump
// skb); 64 KiB leaves room, and MSG_TRUNC tells if it ever did not.
#define RECV_BUF (64 * 1024)
static unsigned char recv_buf[RECV_BUF];

// The messages of one answer, copied out of recv_buf and kept NLMSG_ALIGNed so JS can walk them.
typedef struct {
  unsigned char *data;
  size_t len, cap;
} msg_acc;

// Appends one message; 0 or ENOMEM.
static int acc_append(msg_acc *a, const struct nlmsghdr *h) {
  size_t len = NLMSG_ALIGN(h->nlmsg_len);
  if (a->len + len > a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8192;
    while (cap < a->len + len) cap *= 2;
    unsigned char *p = realloc(a->data, cap);
    if (!p) return ENOMEM;
    a->data = p;
    a->cap = cap;
  }
  memcpy(a->data + a->len, h, h->nlmsg_len);
  memset(a->data + a->len + h->nlmsg_len, 0, len - h->nlmsg_len);
  a->len += len;
  return 0;
}

// The accumulated messages as a Buffer (freeing them), or NULL with an error thrown.
static napi_value acc_to_buffer(napi_env env, msg_acc *a) {
  napi_value out;
  void *data;
  napi_status st = napi_create_buffer_copy(env, a->len, a->data ? a->data : (void *)"", &data, &out);
  free(a->data);
  a->data = NULL;
  if (st != napi_ok) {
    napi_throw_error(env, NULL, "seine_native: cannot allocate the reply buffer");
    return NULL;
  }
  return out;
}

// request(fd, msg: Buffer, seq: number) → Buffer: the concatenation of every reply message
// for `seq`, up to and including NLMSG_DONE / NLMSG_ERROR, or the one reply of a non-dump
// request. The caller has put seq and the port id into the header already; messages for other
// sequence numbers (a late reply to an earlier timed-out request) are dropped.
static napi_value request(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint32_t seq;
  void *msg;
  size_t msglen;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_buffer_info(env, argv[1], &msg, &msglen));
  CHECK(napi_get_value_uint32(env, argv[2], &seq));

  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t n;
  do n = sendto(fd, msg, msglen, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "netlink send", errno);

  msg_acc acc = {0};
  int done = 0;
  while (!done) {
    struct iovec iov = {.iov_base = recv_buf, .iov_len = RECV_BUF};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    do n = recvmsg(fd, &mh, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      int e = errno;
      free(acc.data);
      return throw_errno(env, e == EAGAIN ? "netlink receive (no reply within 5 s)" : "netlink receive", e);
    }
    if (mh.msg_flags & MSG_TRUNC) {
      free(acc.data);
      return throw_errno(env, "netlink receive: reply larger than the receive buffer", EMSGSIZE);
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)recv_buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue;
      if (acc_append(&acc, h)) {
        free(acc.data);
        return throw_errno(env, "netlink receive", ENOMEM);
      }
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR || !(h->nlmsg_flags & NLM_F_MULTI)) {
        done = 1;
        break;
      }
    }
  }
  return acc_to_buffer(env, &acc);
}

// closeSocket(fd)
static napi_value close_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (close(fd) != 0) return throw_errno(env, "close", errno);
  return NULL;
}

// drain(fd) → Buffer: every message already waiting on the socket (MSG_DONTWAIT), concatenated
// and NLMSG_ALIGNed like request()'s answer; empty when nothing waits. For messages the kernel
// sends on its own (nfnetlink_log packets of an NFLOG group): the caller polls, the main thread
// never blocks. A datagram larger than the buffer is skipped; ENOBUFS (the socket overflowed
// and the kernel dropped messages) is thrown with its errno, so the caller can count the loss.
static napi_value drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  msg_acc acc = {0};
  // Bounded per call, so a flood cannot hold the main thread: the rest waits for the next poll.
  while (acc.len < (1u << 20)) {
    struct iovec iov = {.iov_base = recv_buf, .iov_len = RECV_BUF};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;
    do n = recvmsg(fd, &mh, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      int e = errno;
      free(acc.data);
      return throw_errno(env, "netlink receive", e);
    }
    if (mh.msg_flags & MSG_TRUNC) continue;
    for (struct nlmsghdr *h = (struct nlmsghdr *)recv_buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (acc_append(&acc, h)) {
        free(acc.data);
        return throw_errno(env, "netlink receive", ENOMEM);
      }
    }
  }
  return acc_to_buffer(env, &acc);
}

// ---- sysctl and ethtool --------------------------------------------------------------------

// writeSysctl(netns: string | undefined, key: "net/ipv4/conf/x/arp_ignore", value: string).
// /proc/sys/net resolves against the opening thread's namespace, so the open happens inside it.
static napi_value write_sysctl(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char key[256], value[256], path[300];
  if (arg_string(env, argv[1], key, sizeof key) || arg_string(env, argv[2], value, sizeof value)) {
    napi_throw_range_error(env, NULL, "writeSysctl: key and value must be strings under 255 bytes");
    return NULL;
  }
  snprintf(path, sizeof path, "/proc/sys/%s", key);
  ns_guard g;
  if (ns_enter_arg(env, argv[0], &g)) return NULL;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  ns_leave(&g);
  if (err) return throw_errno(env, path, err);
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  err = n < 0 ? errno : ((size_t)n != len ? EIO : 0);
  close(fd);
  if (err) return throw_errno(env, path, err);
  return NULL;
}

// ethtoolTxOff(netns: string | undefined, ifname): what `ethtool -K IF tx off` does: clear the
// tx checksum features (the kernel then drops the offloads that depend on them, TSO among them).
static napi_value ethtool_tx_off(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (arg_string(env, argv[1], ifr.ifr_name, IFNAMSIZ)) {
    napi_throw_range_error(env, NULL, "ethtoolTxOff: ifname must be a string of at most 15 bytes");
    return NULL;
  }
  ns_guard g;
  if (ns_enter_arg(env, argv[0], &g)) return NULL;
  // The ioctl acts on the device in the socket's namespace, so the socket is made inside.
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int err = s < 0 ? errno : 0;
  ns_leave(&g);
  if (err) return throw_errno(env, "socket(AF_INET)", err);
  struct ethtool_value ev = {.cmd = ETHTOOL_STXCSUM, .data = 0};
  ifr.ifr_data = (void *)&ev;
  err = ioctl(s, SIOCETHTOOL, &ifr) != 0 ? errno : 0;
  close(s);
  if (err) {
    char what[64];
    snprintf(what, sizeof what, "ethtool tx off %s", ifr.ifr_name);
    return throw_errno(env, what, err);
  }
  return NULL;
}

// ---- module --------------------------------------------------------------------------------

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"openSocket", NULL, open_socket, NULL, NULL, NULL, napi_default, NULL},
      {"request", NULL, request, NULL, NULL, NULL, napi_default, NULL},
      {"closeSocket", NULL, close_socket, NULL, NULL, NULL, napi_default, NULL},
      {"drain", NULL, drain, NULL, NULL, NULL, napi_default, NULL},
      {"writeSysctl", NULL, write_sysctl, NULL, NULL, NULL, napi_default, NULL},
      {"ethtoolTxOff", NULL, ethtool_tx_off, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
