import { createRequire } from 'node:module';
import type { NotifySocket } from './notify.js';

type Koffi = typeof import('koffi');

export class NotifyError extends Error {
  override name = 'NotifyError';
  constructor(
    readonly code: 'BAD_SOCKET' | 'SEND_FAILED' | 'NO_FFI',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Linux constants (asm-generic, the same on x86_64 and arm64).
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un.sun_path) */
const SUN_PATH_MAX = 108;

interface Libc {
  koffi: Koffi;
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;
  close: (fd: number) => number;
  strerror: (errnum: number) => string;
}

let libc: Libc | undefined;

/** libc through koffi (prebuilt for linux x64 and arm64: no compiler, no child process per ping). */
export function loadLibc(): Libc {
  if (libc) return libc;
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (err) {
    throw new NotifyError('NO_FFI', `cannot load koffi for sd_notify: ${(err as Error).message}`, { cause: err });
  }
  const lib = koffi.load('libc.so.6');
  libc = {
    koffi,
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
    close: lib.func('int close(int fd)'),
    strerror: lib.func('const char *strerror(int errnum)'),
  };
  return libc;
}

/**
 * struct sockaddr_un for a NOTIFY_SOCKET value: a filesystem path, or `@name` for the abstract
 * namespace (a leading NUL, and the length counts exactly the name's bytes).
 */
export function sockaddrUn(address: string): Buffer {
  const abstract = address.startsWith('@');
  const path = abstract ? Buffer.concat([Buffer.of(0), Buffer.from(address.slice(1))]) : Buffer.from(`${address}\0`);
  if (!address.startsWith('/') && !abstract) throw new NotifyError('BAD_SOCKET', `NOTIFY_SOCKET "${address}" is neither an absolute path nor @abstract`);
  if (path.length > SUN_PATH_MAX) throw new NotifyError('BAD_SOCKET', `NOTIFY_SOCKET "${address}" is longer than ${SUN_PATH_MAX} bytes`);
  const addr = Buffer.alloc(2 + path.length);
  addr.writeUInt16LE(AF_UNIX, 0); // sa_family_t in host order; both targets are little-endian
  path.copy(addr, 2);
  return addr;
}

/** An unconnected, non-blocking unix datagram socket that sends every message to one address. */
export class UnixDatagramSocket implements NotifySocket {
  private constructor(
    private readonly libc: Libc,
    private fd: number,
    private readonly addr: Buffer,
    readonly address: string,
  ) {}

  static connect(address: string): UnixDatagramSocket {
    const addr = sockaddrUn(address);
    const c = loadLibc();
    const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw errnoError(c, 'BAD_SOCKET', 'socket(AF_UNIX, SOCK_DGRAM)');
    return new UnixDatagramSocket(c, fd, addr, address);
  }

  /** Never blocks: a full queue on systemd's side is an EAGAIN error, not a stalled event loop. */
  send(message: string): void {
    if (this.fd < 0) throw new NotifyError('SEND_FAILED', `sd_notify socket ${this.address} is closed`);
    const data = Buffer.from(message);
    const sent = this.libc.sendto(this.fd, data, data.length, MSG_NOSIGNAL, this.addr, this.addr.length);
    if (Number(sent) !== data.length) throw errnoError(this.libc, 'SEND_FAILED', `sendto ${this.address}`);
  }

  close(): void {
    if (this.fd >= 0) this.libc.close(this.fd);
    this.fd = -1;
  }
}

function errnoError(c: Libc, code: 'BAD_SOCKET' | 'SEND_FAILED', what: string): NotifyError {
  const errno = c.koffi.errno();
  const name = Object.entries(c.koffi.os.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
  return new NotifyError(code, `${what}: ${name} (${c.strerror(errno)})`);
}
