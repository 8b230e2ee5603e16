/** Fastify request/reply <-> the core's HttpRequest/HttpReply. Translation only, no policy. */
import { headerValue, mergeSetCookie, type HttpReply, type HttpRequest } from '@tessera/core/adapter';
import type { FastifyReply, FastifyRequest } from 'fastify';

class FastifyHttpRequest implements HttpRequest {
  constructor(private readonly r: FastifyRequest) {}
  get method(): string {
    return this.r.method;
  }
  get path(): string {
    const url = this.r.url;
    const q = url.indexOf('?');
    return q === -1 ? url : url.slice(0, q);
  }
  header(name: string): string | undefined {
    return headerValue(this.r.headers[name]);
  }
  get ip(): string | undefined {
    return this.r.ip; // honours trustProxy
  }
  get secure(): boolean {
    return this.r.protocol === 'https'; // honours trustProxy
  }
  get remoteAddress(): string | undefined {
    return this.r.socket?.remoteAddress;
  }
  get encrypted(): boolean {
    return Boolean((this.r.socket as { encrypted?: boolean } | undefined)?.encrypted);
  }
  body(): Promise<unknown> {
    return Promise.resolve(this.r.body);
  }
}

export function toRequest(request: FastifyRequest): HttpRequest {
  return new FastifyHttpRequest(request);
}

/** Adds Set-Cookie values, replacing any earlier one for the same cookie name. */
export function appendCookies(reply: FastifyReply, cookies: readonly string[]): void {
  if (cookies.length === 0) return;
  const merged = mergeSetCookie(reply.getHeader('set-cookie') as string | string[] | undefined, cookies);
  reply.removeHeader('set-cookie');
  // Fastify accumulates repeated set-cookie headers into a list (also alongside @fastify/cookie).
  for (const c of merged) reply.header('set-cookie', c);
}

export function send(reply: FastifyReply, r: HttpReply): FastifyReply {
  reply.code(r.status);
  const cookies: string[] = [];
  for (const [name, value] of r.headers) {
    if (name === 'set-cookie') cookies.push(value);
    else reply.header(name, value);
  }
  appendCookies(reply, cookies);
  return r.body === null ? reply.send() : reply.send(JSON.stringify(r.body));
}
