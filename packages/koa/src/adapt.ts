/** Koa context <-> the core's HttpRequest/HttpReply. Never uses ctx.cookies.set (it refuses Secure cookies behind TLS-terminating proxies unless app.proxy is set and keys are managed). */
import { headerValue, readBody, type HttpReply, type HttpRequest } from '@tessera/core/adapter';
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

export function appendCookies(ctx: Context, cookies: readonly string[]): void {
  for (const c of cookies) ctx.append('set-cookie', c);
}

export function send(ctx: Context, reply: HttpReply): void {
  for (const [name, value] of reply.headers) {
    if (name === 'set-cookie') ctx.append(name, value);
    else ctx.set(name, value);
  }
  ctx.status = reply.status;
  ctx.body = reply.body === null ? null : JSON.stringify(reply.body);
  if (reply.body !== null) ctx.type = 'application/json; charset=utf-8';
}
