/** The longest subscription regex accepted (Kafka sets no limit; this bounds compile work per heartbeat). */
const MAX_REGEX_LENGTH = 4096;

/**
 * Compiles a ConsumerGroupHeartbeat SubscribedTopicRegex. Kafka matches it with RE2/J against the
 * whole topic name; Sluice uses JavaScript's RegExp anchored at both ends, after rejecting what
 * RE2 rejects (lookaround, backreferences) and translating RE2's leading inline flags `(?i)`,
 * `(?s)`, `(?m)` and named groups `(?P<name>…)`. Not supported as in RE2: `\Q…\E` quoting, flags
 * in the middle of a pattern, and RE2's Unicode classes `\pN` outside JS's `\p{…}` form.
 * Throws an Error naming the problem for an invalid pattern.
 */
export function compileSubscriptionRegex(pattern: string): RegExp {
  if (pattern.length > MAX_REGEX_LENGTH) throw new Error(`longer than ${MAX_REGEX_LENGTH} characters`);
  let source = pattern;
  let flags = '';
  const lead = /^\(\?([ims]+)\)/.exec(source);
  if (lead !== null) {
    for (const f of new Set(lead[1])) flags += f;
    source = source.slice(lead[0].length);
  }
  if (/\(\?<?[=!]/.test(source)) throw new Error('lookaround is not supported by RE2');
  if (/(^|[^\\])(\\\\)*\\[1-9]/.test(source)) throw new Error('backreferences are not supported by RE2');
  source = source.replace(/\(\?P</g, '(?<');
  return new RegExp(`^(?:${source})$`, `${flags}u`);
}
