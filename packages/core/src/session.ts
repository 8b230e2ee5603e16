/** The session object apps get: plain fields, and the credentials behind a method, so JSON, spreads and logs of a session never carry them. */
import type { TokenRecord } from './store.js';
import type { Credentials, Session, SessionKind, User } from './types.js';

export class SessionObject implements Session {
  readonly id: string;
  readonly kind: SessionKind;
  readonly user: User;
  readonly subject: string;
  readonly tenant: string | null;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly sessionExpiresAt: number | null;
  // A private field: no own property (JSON.stringify, Object.keys, spreads and structuredClone never see it).
  readonly #credentials: Credentials | null;

  constructor(record: TokenRecord, kind: SessionKind, expiresAt: number | null, user: User, credentials: Credentials | null) {
    this.id = record.family;
    this.kind = kind;
    this.user = user;
    this.subject = record.subject;
    this.tenant = record.tenant ?? null;
    this.createdAt = record.createdAt;
    this.expiresAt = expiresAt;
    this.sessionExpiresAt = record.expiresAt;
    this.#credentials = credentials;
  }

  credentials(): Credentials | null {
    return this.#credentials;
  }
}
