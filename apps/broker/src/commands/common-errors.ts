/** A wrong combination of options found after parsing: exits 2, as commander's own usage errors. */
export class UsageError extends Error {}

/** The command failed for a reason the message says in full (no code or stack to add). */
export class CommandError extends Error {}
