import type { MessageCodec } from '../api.js';
import { RequestHeaderCodec, requestHeaderVersion } from '../generated/headers.js';
import type { Writer } from '../primitives/writer.js';
import { writeRequestFrame } from './frame.js';

/**
 * One whole request frame of `api` at `version`: size, the request header in the version that API
 * version takes, then `msg`. Returns the frame's size, as writeRequestFrame.
 */
export function writeRequest<Req>(
  w: Writer,
  api: { readonly apiKey: number; readonly request: Pick<MessageCodec<Req>, 'encode'> },
  version: number,
  msg: Req,
  correlationId: number,
  clientId: string | null,
  maxFrameSize?: number,
): number {
  return writeRequestFrame(
    w,
    (w) =>
      RequestHeaderCodec.encode(w, requestHeaderVersion(api.apiKey, version), {
        requestApiKey: api.apiKey,
        requestApiVersion: version,
        correlationId,
        clientId,
      }),
    (w) => api.request.encode(w, version, msg),
    maxFrameSize,
  );
}
