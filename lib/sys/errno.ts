/**
 * Linux errno numbers, their symbolic names and strerror(3) texts.
 *
 * A pure table rather than a call to `strerror`: errors must be describable in tests
 * and in the simulator, where no libc is loaded, and the text must not depend on the
 * C library's locale.
 *
 * @module
 */

/**
 * One errno value: its number, its symbolic name and glibc's English text.
 *
 * @example
 * ```ts
 * const e: ErrnoInfo = errnoInfo(17); // { errno: 17, code: "EEXIST", ... }
 * ```
 */
export interface ErrnoInfo {
  /** The number, e.g. 17. */
  readonly errno: number;
  /** The symbolic name, e.g. `"EEXIST"`. */
  readonly code: string;
  /** glibc's strerror text, e.g. `"File exists"`. */
  readonly text: string;
}

// Values are the generic Linux ones (asm-generic/errno-base.h and errno.h), shared by
// x86_64 and aarch64, the two targets hacore runs on.
const TABLE: readonly ErrnoInfo[] = [
  { errno: 1, code: "EPERM", text: "Operation not permitted" },
  { errno: 2, code: "ENOENT", text: "No such file or directory" },
  { errno: 3, code: "ESRCH", text: "No such process" },
  { errno: 4, code: "EINTR", text: "Interrupted system call" },
  { errno: 5, code: "EIO", text: "Input/output error" },
  { errno: 6, code: "ENXIO", text: "No such device or address" },
  { errno: 7, code: "E2BIG", text: "Argument list too long" },
  { errno: 8, code: "ENOEXEC", text: "Exec format error" },
  { errno: 9, code: "EBADF", text: "Bad file descriptor" },
  { errno: 10, code: "ECHILD", text: "No child processes" },
  { errno: 11, code: "EAGAIN", text: "Resource temporarily unavailable" },
  { errno: 12, code: "ENOMEM", text: "Cannot allocate memory" },
  { errno: 13, code: "EACCES", text: "Permission denied" },
  { errno: 14, code: "EFAULT", text: "Bad address" },
  { errno: 16, code: "EBUSY", text: "Device or resource busy" },
  { errno: 17, code: "EEXIST", text: "File exists" },
  { errno: 18, code: "EXDEV", text: "Invalid cross-device link" },
  { errno: 19, code: "ENODEV", text: "No such device" },
  { errno: 20, code: "ENOTDIR", text: "Not a directory" },
  { errno: 21, code: "EISDIR", text: "Is a directory" },
  { errno: 22, code: "EINVAL", text: "Invalid argument" },
  { errno: 23, code: "ENFILE", text: "Too many open files in system" },
  { errno: 24, code: "EMFILE", text: "Too many open files" },
  { errno: 25, code: "ENOTTY", text: "Inappropriate ioctl for device" },
  { errno: 27, code: "EFBIG", text: "File too large" },
  { errno: 28, code: "ENOSPC", text: "No space left on device" },
  { errno: 30, code: "EROFS", text: "Read-only file system" },
  { errno: 32, code: "EPIPE", text: "Broken pipe" },
  { errno: 34, code: "ERANGE", text: "Numerical result out of range" },
  { errno: 35, code: "EDEADLK", text: "Resource deadlock avoided" },
  { errno: 36, code: "ENAMETOOLONG", text: "File name too long" },
  { errno: 38, code: "ENOSYS", text: "Function not implemented" },
  { errno: 39, code: "ENOTEMPTY", text: "Directory not empty" },
  { errno: 42, code: "ENOMSG", text: "No message of desired type" },
  { errno: 61, code: "ENODATA", text: "No data available" },
  { errno: 62, code: "ETIME", text: "Timer expired" },
  { errno: 71, code: "EPROTO", text: "Protocol error" },
  { errno: 74, code: "EBADMSG", text: "Bad message" },
  { errno: 75, code: "EOVERFLOW", text: "Value too large for defined data type" },
  { errno: 88, code: "ENOTSOCK", text: "Socket operation on non-socket" },
  { errno: 89, code: "EDESTADDRREQ", text: "Destination address required" },
  { errno: 90, code: "EMSGSIZE", text: "Message too long" },
  { errno: 91, code: "EPROTOTYPE", text: "Protocol wrong type for socket" },
  { errno: 92, code: "ENOPROTOOPT", text: "Protocol not available" },
  { errno: 93, code: "EPROTONOSUPPORT", text: "Protocol not supported" },
  { errno: 94, code: "ESOCKTNOSUPPORT", text: "Socket type not supported" },
  { errno: 95, code: "EOPNOTSUPP", text: "Operation not supported" },
  { errno: 97, code: "EAFNOSUPPORT", text: "Address family not supported by protocol" },
  { errno: 98, code: "EADDRINUSE", text: "Address already in use" },
  { errno: 99, code: "EADDRNOTAVAIL", text: "Cannot assign requested address" },
  { errno: 100, code: "ENETDOWN", text: "Network is down" },
  { errno: 101, code: "ENETUNREACH", text: "Network is unreachable" },
  { errno: 103, code: "ECONNABORTED", text: "Software caused connection abort" },
  { errno: 104, code: "ECONNRESET", text: "Connection reset by peer" },
  { errno: 105, code: "ENOBUFS", text: "No buffer space available" },
  { errno: 106, code: "EISCONN", text: "Transport endpoint is already connected" },
  { errno: 107, code: "ENOTCONN", text: "Transport endpoint is not connected" },
  { errno: 110, code: "ETIMEDOUT", text: "Connection timed out" },
  { errno: 111, code: "ECONNREFUSED", text: "Connection refused" },
  { errno: 112, code: "EHOSTDOWN", text: "Host is down" },
  { errno: 113, code: "EHOSTUNREACH", text: "No route to host" },
  { errno: 114, code: "EALREADY", text: "Operation already in progress" },
  { errno: 115, code: "EINPROGRESS", text: "Operation now in progress" },
  { errno: 122, code: "EDQUOT", text: "Disk quota exceeded" },
  { errno: 125, code: "ECANCELED", text: "Operation canceled" },
  { errno: 132, code: "ERFKILL", text: "Operation not possible due to RF-kill" },
];

const BY_NUMBER = new Map<number, ErrnoInfo>(TABLE.map((e) => [e.errno, e]));
const BY_CODE = new Map<string, ErrnoInfo>(TABLE.map((e) => [e.code, e]));

/** `EAGAIN`: a non-blocking call found nothing to do (same value as EWOULDBLOCK). */
export const EAGAIN = 11;
/** `EINTR`: a call was interrupted by a signal and may simply be retried. */
export const EINTR = 4;
/** `ENOBUFS`: on a netlink socket, the kernel dropped events because the buffer was full. */
export const ENOBUFS = 105;
/** `EBADF`: not an open file descriptor (also: a closed hacore socket). */
export const EBADF = 9;
/** `EEXIST`: the object (address, route) is already there. */
export const EEXIST = 17;
/** `EADDRNOTAVAIL`: the address is not on this host (also: deleting an absent address). */
export const EADDRNOTAVAIL = 99;
/** `ENOENT`: no such object (generic netlink: no family of that name). */
export const ENOENT = 2;
/** `ESRCH`: no such object (netlink: deleting an absent route). */
export const ESRCH = 3;
/** `ENODEV`: no such interface. */
export const ENODEV = 19;
/** `ETIMEDOUT`: no answer in time (hacore uses it for a netlink ack that never came). */
export const ETIMEDOUT = 110;
/** `EBADMSG`: a reply could not be decoded. */
export const EBADMSG = 74;
/** `EPERM`: the caller lacks a capability (CAP_NET_RAW, CAP_NET_ADMIN). */
export const EPERM = 1;
/** `EINPROGRESS`: a non-blocking `connect` has started and is not done yet. */
export const EINPROGRESS = 115;
/** `EALREADY`: the `connect` started earlier is still under way. */
export const EALREADY = 114;
/** `EISCONN`: the socket is connected (a `connect` started earlier completed). */
export const EISCONN = 106;
/** `ECANCELED`: an io_uring request cancelled (or its linked predecessor failed). */
export const ECANCELED = 125;

/**
 * The table entry for an errno value; unknown numbers get a synthetic `E<n>` code so
 * messages stay readable instead of failing.
 *
 * @example
 * ```ts
 * errnoInfo(17); // { errno: 17, code: "EEXIST", text: "File exists" }
 * errnoInfo(4095).code; // "E4095"
 * ```
 */
export function errnoInfo(errno: number): ErrnoInfo {
  return BY_NUMBER.get(errno) ?? { errno, code: `E${errno}`, text: `Unknown error ${errno}` };
}

/**
 * The symbolic name of an errno value (`"EEXIST"`).
 *
 * @example
 * ```ts
 * errnoCode(99); // "EADDRNOTAVAIL"
 * ```
 */
export function errnoCode(errno: number): string {
  return errnoInfo(errno).code;
}

/**
 * The errno number of a symbolic name, or undefined when the table does not know it.
 *
 * @example
 * ```ts
 * errnoNumber("EPERM"); // 1
 * ```
 */
export function errnoNumber(code: string): number | undefined {
  return BY_CODE.get(code)?.errno;
}

/** Every errno value the table knows, in numeric order. */
export const ERRNO_TABLE: readonly ErrnoInfo[] = TABLE;

/**
 * A failed system call: which call, on what, and the errno it left.
 *
 * The message reads like `bind(AF_INET raw/112): EADDRNOTAVAIL (Cannot assign requested
 * address)` so a log line names the call, the object and the cause without a lookup.
 *
 * @example
 * ```ts
 * const e = new SyscallError("bind", 99, "AF_INET raw/112");
 * e.code; // "EADDRNOTAVAIL"
 * e.message; // "bind(AF_INET raw/112): EADDRNOTAVAIL (Cannot assign requested address)"
 * ```
 */
export class SyscallError extends Error {
  /** The call that failed, e.g. `"bind"`. */
  readonly call: string;
  /** The errno value it left. */
  readonly errno: number;
  /** Its symbolic name, e.g. `"EADDRNOTAVAIL"`. */
  readonly code: string;

  /**
   * Builds the error and its message from the call, errno and context.
   *
   * @param call the libc function, e.g. `"bind"`.
   * @param errno the errno it left.
   * @param context what it acted on, e.g. `"AF_INET raw/112"`.
   */
  constructor(call: string, errno: number, context?: string) {
    const info = errnoInfo(errno);
    super(`${call}${context ? `(${context})` : ""}: ${info.code} (${info.text})`);
    this.name = "SyscallError";
    this.call = call;
    this.errno = errno;
    this.code = info.code;
  }
}
