// sendFile(socketFd, fileFd, position, length): one sendfile(2) call from a file to a
// non-blocking socket, which moves page-cache pages to the socket without copying them through
// the process. Node has no such call for sockets. Returns the bytes sent (> 0), 0 at the end of
// the file, -1 when the socket's buffer is full (EAGAIN); other errors throw with their errno name.
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>

#ifdef __linux__
#include <sys/sendfile.h>
#endif

static napi_value fail(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "sendfile: %s (%s)", what, err != 0 ? strerror(err) : "bad argument");
  napi_throw_error(env, err == EBADF ? "EBADF" : err == EPIPE ? "EPIPE" : err == ECONNRESET ? "ECONNRESET" : NULL, msg);
  return NULL;
}

static napi_value send_file(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) {
    return fail(env, "expects (socketFd, fileFd, position, length)", 0);
  }
  int32_t out_fd, in_fd;
  int64_t position, length;
  if (napi_get_value_int32(env, argv[0], &out_fd) != napi_ok || napi_get_value_int32(env, argv[1], &in_fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &position) != napi_ok || napi_get_value_int64(env, argv[3], &length) != napi_ok) {
    return fail(env, "arguments must be numbers", 0);
  }
  if (out_fd < 0 || in_fd < 0 || position < 0 || length <= 0) return fail(env, "descriptor, position or length out of range", 0);
#ifdef __linux__
  off_t offset = (off_t)position;
  ssize_t n;
  // At most 0x7ffff000 bytes move per call (the kernel's own bound); the caller loops.
  do {
    n = sendfile(out_fd, in_fd, &offset, (size_t)length);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) n = -1;
    else return fail(env, "failed", errno);
  }
  napi_value result;
  napi_create_int64(env, (int64_t)n, &result);
  return result;
#else
  return fail(env, "only built for Linux", ENOSYS);
#endif
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sendFile", NAPI_AUTO_LENGTH, send_file, NULL, &fn);
  napi_set_named_property(env, exports, "sendFile", fn);
  return exports;
}
