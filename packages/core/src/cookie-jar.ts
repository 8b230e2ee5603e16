/** The session cookies: their names, attributes and the Set-Cookie values that set or clear them. */
import { clearCookie, serializeCookie, type CookieAttributes } from './lib/cookies.js';
import type { ResolvedCookie, ResolvedOptions } from './options.js';
import type { Clear } from './reject.js';

export class CookieJar {
  readonly accessName: string;
  readonly refreshName: string | undefined;

  constructor(private readonly o: ResolvedOptions) {
    this.accessName = o.cookie.name;
    this.refreshName = o.mode === 'pair' ? o.refreshCookie.name : undefined;
  }

  private attrs(c: ResolvedCookie, secureRequest: boolean, maxAge: number | undefined): CookieAttributes {
    return {
      path: c.path,
      domain: c.domain,
      httpOnly: c.httpOnly,
      secure: c.secure === 'auto' ? secureRequest : c.secure,
      sameSite: c.sameSite,
      // A browser-session cookie carries neither Max-Age nor Expires.
      maxAge: c.persistence === 'persistent' ? Math.max(0, maxAge ?? 0) : undefined,
    };
  }

  access(token: string, lifetime: number, secureRequest: boolean, now: number): string {
    return serializeCookie(this.accessName, token, this.attrs(this.o.cookie, secureRequest, lifetime), now);
  }

  refresh(token: string, lifetime: number, secureRequest: boolean, now: number): string {
    return serializeCookie(this.o.refreshCookie.name, token, this.attrs(this.o.refreshCookie, secureRequest, lifetime), now);
  }

  /** Set-Cookie values that delete the cookies a refusal clears. */
  clear(clear: Clear, secureRequest: boolean): string[] {
    if (clear === 'none') return [];
    const out = [clearCookie(this.accessName, this.attrs(this.o.cookie, secureRequest, 0))];
    if (clear === 'all' && this.refreshName !== undefined) {
      out.push(clearCookie(this.refreshName, this.attrs(this.o.refreshCookie, secureRequest, 0)));
    }
    return out;
  }
}
