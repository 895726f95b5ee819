/**
 * Bad input from the user: a malformed scenario, an unknown config key, a
 * corrupt trace, a wrong flag. The CLI prints the message on one line and
 * exits with code 2, never a stack trace.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Exit codes of the command-line contract. */
export const EXIT = {
  ok: 0,
  violated: 1,
  usage: 2,
  internal: 3,
} as const;
