import { createRequire } from 'node:module';

/**
 * One sendfile(2) call: up to `length` bytes of the file `fileFd` from `position` onto the
 * non-blocking socket `socketFd`, without copying them through the process. Returns the bytes
 * sent (> 0), 0 when `position` is at or past the end of the file, or -1 when the socket's buffer
 * is full (wait until it drains). Other errors throw (code EBADF, EPIPE, ECONNRESET, or none).
 */
export type SendFile = (socketFd: number, fileFd: number, position: number, length: number) => number;

interface Addon {
  sendFile: SendFile;
}

function load(): { sendFile: SendFile | null; reason: string | null } {
  if (process.platform !== 'linux') return { sendFile: null, reason: 'sendfile is used on Linux only' };
  try {
    // By package name, not a relative path: the broker's command line is bundled into one file,
    // and the addon resolves from node_modules wherever that file is.
    const addon = createRequire(import.meta.url)('@sluice/sendfile/addon') as Addon;
    return { sendFile: addon.sendFile, reason: null };
  } catch (err) {
    return { sendFile: null, reason: `the @sluice/sendfile addon did not load: ${(err as Error).message}` };
  }
}

const loaded = load();

/** The call, or null where the addon is not built (or not Linux): then callers copy instead. */
export const sendFile: SendFile | null = loaded.sendFile;

/** Why sendFile is null, for the broker's start-up log; null when it is available. */
export const sendFileUnavailableReason: string | null = loaded.reason;

/**
 * The descriptor of a plain TCP socket (libuv exposes it on Unix as the handle's `fd`), or null:
 * a TLS socket's bytes must go through TLS, and a socket without a handle has no descriptor.
 */
export function socketFd(socket: import('node:net').Socket): number | null {
  if ((socket as { encrypted?: boolean }).encrypted === true) return null;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : null;
}
