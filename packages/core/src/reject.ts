/** A refusal raised inside a flow: carries its code and cookie policy until the writer turns it into a reply. */
import { TesseraError, type ErrorCode } from './errors.js';

/** Which cookies a refusal clears (section "one response contract" in the README). */
export type Clear = 'none' | 'access' | 'all';

export class Reject extends Error {
  constructor(
    readonly error: TesseraError,
    readonly clear: Clear,
    readonly sessionId?: string,
    readonly subject?: string,
  ) {
    super(error.message);
  }
}

export function reject(code: ErrorCode, reason: string, clear: Clear, sessionId?: string, subject?: string): Reject {
  return new Reject(new TesseraError(code, reason), clear, sessionId, subject);
}
