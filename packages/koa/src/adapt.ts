/** Koa context <-> the core's HttpRequest/HttpReply. Never uses ctx.cookies.set (it refuses Secure cookies behind TLS-terminating proxies unless app.proxy is set and keys are managed). */
import { headerValue, mergeSetCookie, readBody, type HttpReply, type HttpRequest } from '@tessera/core/adapter';
import type { Context } from 'koa';

class KoaRequest implements HttpRequest {
  constructor(private readonly ctx: Context) {}
  get method(): string {
    return this.ctx.method;
  }
  get path(): string {
    return this.ctx.path;
  }
  header(name: string): string | undefined {
    return headerValue(this.ctx.req.headers[name]);
  }
  get ip(): string | undefined {
    return this.ctx.ip; // honours app.proxy
  }
  get secure(): boolean {
    return this.ctx.secure; // honours app.proxy
  }
  get remoteAddress(): string | undefined {
    return this.ctx.req.socket?.remoteAddress;
  }
  get encrypted(): boolean {
    return Boolean((this.ctx.req.socket as { encrypted?: boolean } | undefined)?.encrypted);
  }
  body(): Promise<unknown> {
    const parsed = (this.ctx.request as { body?: unknown }).body;
    if (parsed !== undefined) return Promise.resolve(parsed);
    if (this.ctx.req.readableEnded) return Promise.resolve(undefined);
    return readBody(this.ctx.req);
  }
}

export function toRequest(ctx: Context): HttpRequest {
  return new KoaRequest(ctx);
}

/** Adds Set-Cookie values, replacing any earlier one for the same cookie name. */
export function appendCookies(ctx: Context, cookies: readonly string[]): void {
  if (cookies.length > 0) ctx.set('set-cookie', mergeSetCookie(ctx.response.get('set-cookie') as string | string[] | undefined || undefined, cookies));
}

export function send(ctx: Context, reply: HttpReply): void {
  const cookies: string[] = [];
  for (const [name, value] of reply.headers) {
    if (name === 'set-cookie') cookies.push(value);
    else ctx.set(name, value);
  }
  appendCookies(ctx, cookies);
  ctx.status = reply.status;
  ctx.body = reply.body === null ? null : JSON.stringify(reply.body);
  if (reply.body !== null) ctx.type = 'application/json; charset=utf-8';
}
