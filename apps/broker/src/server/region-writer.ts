import fs from 'node:fs';
import type { Socket } from 'node:net';
import { FileRegion } from '@sluice/log';
import type { SendFile } from '@sluice/sendfile';

/**
 * Bytes copied through the socket's stream when sendfile finds the socket's buffer full: libuv
 * writes them once the socket has room, and the write's callback lets sendfile go on. A few
 * percent of a large response go this way (measured: 7% of 2 GiB to a reader on loopback).
 */
const COPY_SLICE_BYTES = 64 * 1024;
/** Copy slices kept for reuse across connections (each is reused only after its write is done). */
const MAX_SPARE_SLICES = 16;
const spareSlices: Buffer[] = [];
const EMPTY = Buffer.alloc(0);

/** Whether a frame's parts hold a FileRegion (records to send from a file). */
export function hasRegion(parts: readonly Buffer[]): boolean {
  for (const p of parts) if ((p as Uint8Array) instanceof FileRegion) return true;
  return false;
}

/**
 * Writes one response frame whose parts include FileRegions: the Buffers through the socket's
 * stream, each region with sendfile(2) straight from the segment file once everything before it
 * has left the stream. Nothing else may write to the socket until `finished` runs: with null when
 * every part has been handed to the kernel, or with a reason when the frame cannot be completed
 * (the file was cut short under it, or sendfile failed) — the frame is then partly written and
 * the connection must close.
 */
export class RegionFrameWriter {
  /** The part being written, and the bytes of it sent when it is a region. */
  private index = 0;
  private sent = 0;
  /** The stream was waited for before the current region (once per region). */
  private waited = false;
  private stopped = false;

  constructor(
    private readonly socket: Socket,
    private readonly socketFd: number,
    private readonly sendFile: SendFile,
    private readonly parts: readonly Buffer[],
    private readonly finished: (error: string | null) => void,
  ) {}

  start(): void {
    this.run();
  }

  /** The connection closed: nothing more is written, and `finished` does not run. */
  abort(): void {
    this.stopped = true;
  }

  private readonly resume = (err?: Error | null) => {
    // A failed write destroys the socket; the connection closes through its own 'error'/'close'.
    if (err || this.stopped) return;
    this.run();
  };

  private run(): void {
    const parts = this.parts;
    // Bounded by the parts; returns whenever it must wait for a write's callback (which resumes it).
    while (this.index < parts.length && !this.stopped) {
      const part = parts[this.index] as Uint8Array;
      if (!(part instanceof FileRegion)) {
        this.index++;
        const last = this.index === parts.length;
        // A region goes once what is before it has left the stream: this write's callback.
        if (last || (parts[this.index] as Uint8Array) instanceof FileRegion) {
          this.socket.write(part, last ? this.done : this.resume);
          return;
        }
        this.socket.write(part);
        continue;
      }
      if (this.sent === 0 && !this.waited && this.socket.writableLength > 0) {
        // Bytes still queued in the stream ahead of the region: an empty write's callback runs once they have left.
        this.waited = true;
        this.socket.write(EMPTY, this.resume);
        return;
      }
      const outcome = this.sendRegion(part);
      if (outcome === 'waiting') return;
      if (outcome !== 'sent') {
        this.stop(outcome);
        return;
      }
      this.index++;
      this.sent = 0;
      this.waited = false;
    }
    if (!this.stopped) this.stop(null);
  }

  private readonly done = (err?: Error | null) => {
    if (err || this.stopped) return;
    this.stop(null);
  };

  private stop(error: string | null): void {
    this.stopped = true;
    this.finished(error);
  }

  /** Sends the rest of `region`: 'sent', 'waiting' (a slice copied through the stream), or why not. */
  private sendRegion(region: FileRegion): 'sent' | 'waiting' | string {
    // Bounded: each round sends bytes, or ends the loop.
    while (this.sent < region.size) {
      let n: number;
      try {
        n = this.sendFile(this.socketFd, region.fd, region.position + this.sent, region.size - this.sent);
      } catch (err) {
        return `sendfile failed: ${(err as Error).message}`;
      }
      if (n > 0) {
        this.sent += n;
        continue;
      }
      if (n === 0) return cutShort(region, this.sent);
      // The socket's buffer is full: copy a slice into the stream, which waits for room.
      const slice = spareSlices.pop() ?? Buffer.allocUnsafe(COPY_SLICE_BYTES);
      const want = Math.min(slice.length, region.size - this.sent);
      let got: number;
      try {
        got = fs.readSync(region.fd, slice, 0, want, region.position + this.sent);
      } catch (err) {
        return `segment read failed: ${(err as Error).message}`;
      }
      if (got < want) return cutShort(region, this.sent + got);
      this.sent += got;
      this.socket.write(slice.subarray(0, got), (err) => {
        if (spareSlices.length < MAX_SPARE_SLICES) spareSlices.push(slice);
        this.resume(err);
      });
      return 'waiting';
    }
    return 'sent';
  }
}

function cutShort(region: FileRegion, at: number): string {
  return `a segment file ended at byte ${region.position + at} while a Fetch response was being sent from it (${region.size} bytes from ${region.position}): the file was truncated`;
}
