import { KafkaError } from '@sluice/protocol';

// Protocol codes the log raises; the shared error table may not list them all yet.
export const OFFSET_OUT_OF_RANGE = 1;
export const CORRUPT_MESSAGE = 2;
export const MESSAGE_TOO_LARGE = 10;
export const KAFKA_STORAGE_ERROR = 56;
export const INVALID_RECORD = 87;

export function offsetOutOfRange(message: string): KafkaError {
  return new KafkaError(OFFSET_OUT_OF_RANGE, message);
}

export function corruptMessage(message: string): KafkaError {
  return new KafkaError(CORRUPT_MESSAGE, message);
}

/** Error codes that say the disk, not the data, is at fault: no space, no quota, I/O error, read-only. */
const DISK_FAILURE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);

/** A write failed because of the disk (Kafka's IOException on a log dir), not because of what was written. */
export function isDiskFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DISK_FAILURE_CODES.has(code);
}

/** A problem with files on disk: names the file and position so an operator can find it. */
export class LogStorageError extends KafkaError {
  readonly file: string;
  readonly position: number;
  constructor(file: string, position: number, what: string) {
    super(KAFKA_STORAGE_ERROR, `${file} at byte ${position}: ${what}`);
    this.name = 'LogStorageError';
    this.file = file;
    this.position = position;
  }
}
