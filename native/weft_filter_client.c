// weft-filter-client: what git starts as Weft's filter process (filter.weft.process, written by `weft init` when
// this program is built). It hands git's pipes to this repository's warm filter process — a `weft filter-process
// --warm` started ahead of time, its code loaded and its threads running — over the Unix socket
// .git/weft/filter.sock, and exits with that process's status. Where there is none, or it refuses (another build,
// other settings), or anything at all goes wrong before it has taken the pipes, it runs the filter itself: it
// execs its arguments (`node …/main.js filter-process`). See src/ops/warm-filter.ts for the other side.
//
// The hand-over, on one connection: the client sends a header (magic, two lengths) with its descriptors 0, 1 and 2
// attached (SCM_RIGHTS), then its arguments and its environment (NUL-separated). The warm process answers 'A'
// (accepted) or 'R' (refused); the client then says 'G' (go) and from then on only waits for the 4-byte status.
// The warm process touches the descriptors only after 'G', so a client that gives up waiting (and runs the
// filter itself) can never share git's pipes with it.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

#define SOCKET_PATH ".git/weft/filter.sock"
#define MAGIC "WEFTWARM1"
#define MAGIC_BYTES 9
/** How long a warm process may take to answer: at once when idle, ~0.1 s when just started; longer means it is
 * busy serving another command (it does not accept meanwhile): run the filter here. */
#define ANSWER_TIMEOUT_MS 1000

static pid_t warm_pid = 0;

static void run_cold(char **argv) {
  // Tells the filter it was started by this client: at its end it starts a warm process for the next command.
  setenv("WEFT_FILTER_CLIENT", "1", 1);
  execvp(argv[1], argv + 1);
  fprintf(stderr, "weft: cannot run %s: %s\n", argv[1], strerror(errno));
  _exit(127);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/** Appends NUL-terminated strings to a growing buffer; returns 0, or -1 when out of memory. */
static int append(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s) + 1;
  if (*len + n > *cap) {
    size_t next = (*cap + n) * 2;
    char *grown = realloc(*buf, next);
    if (grown == NULL) return -1;
    *buf = grown;
    *cap = next;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  return 0;
}

/** The warm process runs in its own session: signals meant for git's filter are passed on to it. */
static void forward(int sig) {
  if (warm_pid > 0) kill(warm_pid, sig);
  signal(sig, SIG_DFL);
  raise(sig);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: weft-filter-client <command> [<argument>…]  (run by git; see weft init)\n");
    return 2;
  }
  const char *off = getenv("WEFT_WARM_FILTER");
  if ((off != NULL && strcmp(off, "0") == 0) || getenv("GIT_DIR") != NULL || getenv("GIT_WORK_TREE") != NULL ||
      getenv("GIT_COMMON_DIR") != NULL) {
    run_cold(argv);
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) run_cold(argv);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, SOCKET_PATH, sizeof SOCKET_PATH);
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(s);
    run_cold(argv);
  }

  char *payload = NULL;
  size_t len = 0, cap = 0, argv_bytes;
  for (int i = 1; i < argc; i++) {
    if (append(&payload, &len, &cap, argv[i]) != 0) goto cold;
  }
  argv_bytes = len;
  for (char **e = environ; *e != NULL; e++) {
    if (append(&payload, &len, &cap, *e) != 0) goto cold;
  }
  if (len > UINT32_MAX) goto cold;

  char header[MAGIC_BYTES + 8];
  uint32_t lengths[2] = {(uint32_t)argv_bytes, (uint32_t)(len - argv_bytes)};
  memcpy(header, MAGIC, MAGIC_BYTES);
  memcpy(header + MAGIC_BYTES, lengths, sizeof lengths);
  int fds[3] = {0, 1, 2};
  union {
    char buf[CMSG_SPACE(sizeof fds)];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {.iov_base = header, .iov_len = sizeof header};
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
  ssize_t sent;
  do sent = sendmsg(s, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent != (ssize_t)sizeof header) goto cold;
  signal(SIGPIPE, SIG_IGN);
  if (write_all(s, payload, len) != 0) goto cold;

  struct pollfd p = {.fd = s, .events = POLLIN};
  int ready;
  do ready = poll(&p, 1, ANSWER_TIMEOUT_MS);
  while (ready < 0 && errno == EINTR);
  char answer = 0;
  if (ready != 1 || read_all(s, &answer, 1) != 0 || answer != 'A') goto cold;
  struct ucred peer;
  socklen_t peer_len = sizeof peer;
  if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) == 0) warm_pid = peer.pid;
  signal(SIGINT, forward);
  signal(SIGTERM, forward);
  signal(SIGHUP, forward);
  if (write_all(s, "G", 1) != 0) {
    // The warm process is gone before it took the pipes: nothing has been read from them yet.
    warm_pid = 0;
    goto cold;
  }
  // The pipes are the warm process's now: git sees their end when it ends.
  close(0);
  close(1);
  int32_t status = 1;
  if (read_all(s, (char *)&status, sizeof status) != 0) {
    fprintf(stderr, "weft: the warm filter process (pid %d) ended without a status\n", (int)warm_pid);
    return 1;
  }
  return status >= 0 && status < 256 ? status : 1;

cold:
  free(payload);
  close(s);
  run_cold(argv);
  return 127;
}
