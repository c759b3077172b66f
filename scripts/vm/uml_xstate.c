/*
 * LD_PRELOAD shim for the User-Mode Linux kernel of scripts/vm/run.sh.
 *
 * Why: UML saves and restores each guest process's FPU state with ptrace's
 * PTRACE_GETREGSET/PTRACE_SETREGSET (NT_X86_XSTATE), using a buffer sized for the
 * XSAVE features it knows. The host kernel refuses a SETREGSET whose length is not
 * its whole XSAVE area (EFAULT). On a host with AMX that area also holds the tiles
 * (seen: 11,008 bytes where UML passes 2,696), and the guest's first process dies at
 * boot ("userspace - ptrace set fp regs failed, errno = 14"). A short GETREGSET is
 * fine (the kernel copies what fits).
 *
 * What: a SETREGSET NT_X86_XSTATE shorter than the host's area is completed from the
 * tracee's current state (read whole), with UML's bytes over its start (the legacy
 * area, the header and the state UML knows), and set whole. Every other ptrace call
 * goes to libc unchanged. The state UML does not know (the AMX tiles) is left as it
 * was, which is what UML assumed of it anyway.
 *
 * Built by scripts/vm/run.sh (cc -shared -fPIC) when a C compiler is there.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

/* Larger than any XSAVE area an x86-64 host has today (AMX: ~11 KiB). UML calls ptrace
 * from one thread, so one buffer serves. */
static char whole_area[65536] __attribute__((aligned(64)));

long ptrace(enum __ptrace_request request, ...) {
  static ptrace_fn real;
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void *addr = va_arg(ap, void *);
  void *data = va_arg(ap, void *);
  va_end(ap);
  if (real == NULL) real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
  if (request == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE && data != NULL) {
    const struct iovec *given = data;
    struct iovec whole = {whole_area, sizeof whole_area};
    if (real(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &whole) == 0 &&
        whole.iov_len > given->iov_len) {
      memcpy(whole_area, given->iov_base, given->iov_len);
      return real(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
    }
  }
  return real(request, pid, addr, data);
}
