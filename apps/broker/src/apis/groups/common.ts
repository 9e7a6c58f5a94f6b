import type { RequestContext } from '../../server/dispatcher.js';

/** Kafka reports a member's host as the client address with a leading slash (InetAddress.toString). */
export function clientHostOf(ctx: RequestContext): string {
  const remote = ctx.connection.remote;
  const colon = remote.lastIndexOf(':');
  return `/${colon > 0 ? remote.slice(0, colon) : remote}`;
}

export function clientIdOf(ctx: RequestContext): string {
  return ctx.header.clientId ?? '';
}
