// What the Embedded-Swift runtime uses from the C world: zlib, and the parts of libc and
// libm it calls (the runtime cannot import Glibc, which is built for full Swift).
#include <zlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* open(2) is variadic (Swift cannot call it) and errno is a macro: wrappers for the runtime's
   file loader. Opens read-only without blocking (a FIFO without a writer would block). */
static inline int myelin_shim_open_read(const char *path) { return open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); }
static inline int myelin_shim_errno(void) { return errno; }
