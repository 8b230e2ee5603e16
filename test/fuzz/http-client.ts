/** A minimal HTTP/1.1 client for fuzzing 127.0.0.1: pipelined keep-alive sockets for volume, one-shot sockets for bytes no HTTP client would send. */
import { connect, type Socket } from 'node:net';

export interface Reply {
  /** 0 when no complete reply came (`error` says why). */
  status: number;
  /** Lower-case names; repeated headers joined with `\n`. */
  headers: Record<string, string>;
  body: string;
  error?: string;
}

export interface RawRequest {
  method: string;
  path: string;
  /** Values are sent as latin1 bytes, unchecked: the caller decides what is valid. */
  headers: [name: string, value: string][];
  body?: Buffer;
  /** Send the body with `Transfer-Encoding: chunked`, cut at these offsets (else `Content-Length`). */
  chunks?: number[];
}

/** The request's bytes, framed (Host and body length added here). */
export function encode(r: RawRequest): Buffer {
  let head = `${r.method} ${r.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [n, v] of r.headers) head += `${n}: ${v}\r\n`;
  const body = r.body ?? Buffer.alloc(0);
  if (r.chunks !== undefined) {
    const parts: Buffer[] = [Buffer.from(head + 'Transfer-Encoding: chunked\r\n\r\n', 'latin1')];
    let at = 0;
    for (const cut of [...r.chunks.filter(c => c > 0 && c < body.length).sort((a, b) => a - b), body.length]) {
      if (cut <= at) continue;
      parts.push(Buffer.from(`${(cut - at).toString(16)}\r\n`, 'latin1'), body.subarray(at, cut), Buffer.from('\r\n', 'latin1'));
      at = cut;
    }
    parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
    return Buffer.concat(parts);
  }
  if (body.length > 0 || r.method === 'POST') head += `Content-Length: ${body.length}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]);
}

type Parsed = { reply: Reply; used: number; close: boolean } | null;

/** One complete response at the start of `buf`, or null when more bytes are needed. */
function parseOne(buf: Buffer, atEof: boolean): Parsed {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  const status = m ? Number(m[1]) : 0;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c === -1) continue;
    const name = line.slice(0, c).trim().toLowerCase();
    const value = line.slice(c + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}\n${value}`;
  }
  const close = /\bclose\b/i.test(headers['connection'] ?? '');
  let at = end + 4;
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { reply: { status, headers, body: '' }, used: at, close };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    for (;;) {
      const le = buf.indexOf('\r\n', at);
      if (le === -1) return null;
      const size = parseInt(buf.subarray(at, le).toString('latin1'), 16);
      if (!Number.isFinite(size)) return { reply: { status: 0, headers, body: '', error: 'bad chunk size' }, used: buf.length, close: true };
      if (buf.length < le + 2 + size + 2) return null;
      if (size === 0) return { reply: { status, headers, body: Buffer.concat(parts).toString('utf8') }, used: le + 4, close };
      parts.push(buf.subarray(le + 2, le + 2 + size));
      at = le + 2 + size + 2;
    }
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const n = Number(cl);
    if (buf.length < at + n) return null;
    return { reply: { status, headers, body: buf.subarray(at, at + n).toString('utf8') }, used: at + n, close };
  }
  // No length: the body runs to the end of the connection.
  if (!atEof) return null;
  return { reply: { status, headers, body: buf.subarray(at).toString('utf8') }, used: buf.length, close: true };
}

interface Pending {
  bytes: Buffer;
  resolve(r: Reply): void;
  timer: NodeJS.Timeout;
}

/** One keep-alive connection with requests in flight in order (HTTP/1.1 pipelining). */
class Lane {
  readonly socket: Socket;
  readonly pending: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  dead = false;
  private corked = false;

  constructor(port: number, private readonly orphaned: (p: Pending[]) => void) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', () => this.die());
    this.socket.on('close', () => this.die());
  }

  send(p: Pending): void {
    this.pending.push(p);
    if (!this.corked) {
      // Requests queued in the same tick leave in one write.
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(p.bytes);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const r = parseOne(this.buf, false);
      if (r === null) return;
      this.buf = this.buf.subarray(r.used);
      const p = this.pending.shift();
      if (p) {
        clearTimeout(p.timer);
        p.resolve(r.reply);
      }
      if (r.close) return this.die();
    }
  }

  /** The requests still waiting when the connection ends are handed back, to be asked again one by one. */
  die(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    const left = this.pending.splice(0);
    for (const p of left) clearTimeout(p.timer);
    if (left.length > 0) this.orphaned(left);
  }
}

export interface OneShot {
  /** Every response that arrived before the server closed (or the wait ended). */
  replies: Reply[];
  /** The server ended the connection itself within the wait. */
  closed: boolean;
}

/**
 * Writes `bytes` on a fresh connection and collects responses until the server closes, `want`
 * complete replies came, or `waitMs` passed. The client never half-closes first: Node aborts a
 * request whose client ended its side before the reply was written.
 */
export function oneShot(port: number, bytes: Buffer, waitMs = 10_000, want = Infinity): Promise<OneShot> {
  return new Promise(resolve => {
    let buf: Buffer = Buffer.alloc(0);
    const replies: Reply[] = [];
    let settled = false;
    const socket = connect(port, '127.0.0.1');
    const drain = (atEof: boolean) => {
      for (let r = parseOne(buf, atEof); r !== null && buf.length > 0; r = parseOne(buf, atEof)) {
        replies.push(r.reply);
        buf = buf.subarray(r.used);
      }
    };
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      drain(true);
      resolve({ replies, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      drain(false);
      if (replies.length >= want) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(bytes);
  });
}

/**
 * Requests spread over `size` pipelined connections to 127.0.0.1:`port`. A connection the server
 * ends (after a `Connection: close` reply, say) takes the requests queued behind it along: each is
 * asked again alone on a fresh connection, so every request gets its own answer or its own error.
 */
export class PipelinePool {
  private readonly lanes: Lane[] = [];
  private next = 0;
  private closed = false;

  constructor(private readonly port: number, private readonly size = 8, private readonly timeoutMs = 15_000) {}

  request(r: RawRequest): Promise<Reply> {
    return this.send(encode(r));
  }

  send(bytes: Buffer): Promise<Reply> {
    if (this.closed) return Promise.resolve({ status: 0, headers: {}, body: '', error: 'pool closed' });
    return new Promise(resolve => {
      const i = this.next++ % this.size;
      let lane = this.lanes[i];
      if (lane === undefined || lane.dead) lane = this.lanes[i] = new Lane(this.port, left => this.retry(left));
      const l = lane;
      const p: Pending = {
        bytes,
        resolve,
        // No answer in time: this connection's pipeline is stuck; its other requests are asked again.
        timer: setTimeout(() => {
          const at = l.pending.indexOf(p);
          if (at !== -1) l.pending.splice(at, 1);
          resolve({ status: 0, headers: {}, body: '', error: `no reply within ${this.timeoutMs} ms` });
          l.die();
        }, this.timeoutMs),
      };
      l.send(p);
    });
  }

  private retry(left: Pending[]): void {
    for (const p of left) {
      if (this.closed) {
        p.resolve({ status: 0, headers: {}, body: '', error: 'pool closed' });
        continue;
      }
      void oneShot(this.port, p.bytes, this.timeoutMs, 1).then(({ replies }) =>
        p.resolve(replies[0] ?? { status: 0, headers: {}, body: '', error: 'connection closed without a reply' }),
      );
    }
  }

  close(): void {
    this.closed = true;
    for (const l of this.lanes) l.die();
  }
}
