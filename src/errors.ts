// The one shape of an error a user may see: a stable code, a message written for
// the user (shown as it is: never URLs, headers, tokens or stack traces), and a
// detail for the log. src/bot knows how to show one; anything else that goes
// wrong is an internal error: a generic message for the user, the cause in the log.

export class UserFacingError<C extends string = string> extends Error {
  readonly code: C;
  /** Technical explanation for logs; must not contain secrets. */
  readonly detail?: string;

  constructor(code: C, userMessage: string, o: { detail?: string; cause?: unknown } = {}) {
    super(userMessage, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'UserFacingError';
    this.code = code;
    if (o.detail !== undefined) this.detail = o.detail;
  }

  /** The text for the user (the error's message). */
  get userMessage(): string {
    return this.message;
  }
}

export const INTERNAL_MESSAGE = 'Something went wrong on my side while looking at that photo. Please try again in a moment.';

/** Something unexpected: the user gets a generic message, the log gets the cause. */
export class InternalError extends UserFacingError<'INTERNAL'> {
  constructor(cause: unknown, userMessage = INTERNAL_MESSAGE) {
    super('INTERNAL', userMessage, { cause, detail: String((cause as Error)?.message ?? cause) });
    this.name = 'InternalError';
  }
}

/** A user-facing error as it is; anything else wrapped as an internal error. */
export function toUserFacing(err: unknown): UserFacingError {
  // instanceof narrows to UserFacingError<any>; any code is a string.
  return err instanceof UserFacingError ? (err as UserFacingError) : new InternalError(err);
}
