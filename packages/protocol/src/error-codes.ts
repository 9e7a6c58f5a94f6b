/** One row of Kafka's error-code table. */
export interface ErrorCodeInfo {
  code: number;
  name: string;
  retriable: boolean;
  message: string;
}

// PLACEHOLDER: the complete table is being filled in (see issue #2).
const TABLE: ErrorCodeInfo[] = [
  {
    code: -1,
    name: 'UNKNOWN_SERVER_ERROR',
    retriable: false,
    message: 'The server experienced an unexpected error when processing the request.',
  },
  { code: 0, name: 'NONE', retriable: false, message: '' },
  {
    code: 2,
    name: 'CORRUPT_MESSAGE',
    retriable: true,
    message:
      'This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.',
  },
  {
    code: 42,
    name: 'INVALID_REQUEST',
    retriable: false,
    message:
      'This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.',
  },
];

const BY_CODE = new Map(TABLE.map((e) => [e.code, e]));

export const ERROR_CODES = Object.fromEntries(TABLE.map((e) => [e.name, e.code])) as Record<string, number> & {
  NONE: 0;
  UNKNOWN_SERVER_ERROR: -1;
  CORRUPT_MESSAGE: 2;
  INVALID_REQUEST: 42;
};

export function errorByCode(code: number): ErrorCodeInfo | undefined {
  return BY_CODE.get(code);
}

export const ALL_ERROR_CODES: readonly ErrorCodeInfo[] = TABLE;
