/** Express request/response <-> the core's HttpRequest/HttpReply. Translation only, no policy. */
import { headerValue, mergeSetCookie, readBody, type HttpReply, type HttpRequest } from '@tessera/core/adapter';
import type { Request, Response } from 'express';

class ExpressRequest implements HttpRequest {
  constructor(private readonly r: Request) {}
  get method(): string {
    return this.r.method;
  }
  get path(): string {
    const url = this.r.originalUrl;
    const q = url.indexOf('?');
    return q === -1 ? url : url.slice(0, q);
  }
  header(name: string): string | undefined {
    return headerValue(this.r.headers[name]);
  }
  get ip(): string | undefined {
    return this.r.ip; // trust-proxy aware
  }
  get secure(): boolean {
    return this.r.secure; // trust-proxy aware
  }
  get remoteAddress(): string | undefined {
    return this.r.socket?.remoteAddress;
  }
  get encrypted(): boolean {
    return Boolean((this.r.socket as { encrypted?: boolean } | undefined)?.encrypted);
  }
  body(): Promise<unknown> {
    if (this.r.body !== undefined) return Promise.resolve(this.r.body);
    if (this.r.readableEnded) return Promise.resolve(undefined);
    return readBody(this.r);
  }
}

export function toRequest(req: Request): HttpRequest {
  return new ExpressRequest(req);
}

/** Adds Set-Cookie values, replacing any earlier one for the same cookie name. */
export function appendCookies(res: Response, cookies: readonly string[]): void {
  if (cookies.length > 0) res.setHeader('set-cookie', mergeSetCookie(res.getHeader('set-cookie'), cookies));
}

export function send(res: Response, reply: HttpReply): void {
  res.status(reply.status);
  const cookies: string[] = [];
  for (const [name, value] of reply.headers) {
    if (name === 'set-cookie') cookies.push(value);
    else res.setHeader(name, value);
  }
  appendCookies(res, cookies);
  if (reply.body === null) res.end();
  else res.end(JSON.stringify(reply.body));
}
