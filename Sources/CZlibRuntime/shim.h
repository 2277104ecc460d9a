// What the Embedded-Swift runtime uses from the C world: zlib, and the parts of libc and
// libm it calls (the runtime cannot import Glibc, which is built for full Swift).
#include <zlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
