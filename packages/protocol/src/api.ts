import type { Reader } from './primitives/reader.js';
import type { Writer } from './primitives/writer.js';

/**
 * Encodes and decodes one message type (a request, a response, a header or another schema) for
 * every version it has. Versions outside the schema's range throw KafkaError UNSUPPORTED_VERSION.
 */
export interface MessageCodec<T = unknown> {
  /** Appends `msg` as `version` to `w`. Fields absent in that version must hold their default, unless ignorable. */
  encode(w: Writer, version: number, msg: T): void;
  /** Reads one message of `version` from `r`; fields absent in that version get their default. */
  decode(r: Reader, version: number): T;
  /** A new message with every field at its schema default (arrays empty). */
  defaults(): T;
}

/** One Kafka API (a request/response pair sharing an API key). */
export interface ApiDefinition<Req = unknown, Res = unknown> {
  readonly apiKey: number;
  /** Kafka's name without the Request/Response suffix, e.g. `Produce`. */
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** The first flexible version (compact encodings, tagged fields), or null if none is. */
  readonly flexibleMinVersion: number | null;
  /** The schema marks its newest version as still in development. */
  readonly latestVersionUnstable: boolean;
  /** Which listeners serve the API: zkBroker, broker, controller. */
  readonly listeners: readonly string[];
  readonly request: MessageCodec<Req>;
  readonly response: MessageCodec<Res>;
}

/** A codec of a schema that is not an API: request/response headers, consumer protocol, KRaft records. */
export interface SchemaCodec<T = unknown> extends MessageCodec<T> {
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly flexibleMinVersion: number | null;
}
