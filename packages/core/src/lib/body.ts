/**
 * Reads a request body as text, refusing bodies over `limit` bytes (adapters use it when no body
 * parser ran). On refusal the rest of the body is drained, not destroyed: a destroyed request loses
 * its socket, and with it the peer address a reply or an event may still need.
 */
export function readBody(req: NodeJS.ReadableStream, limit = 16 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size > limit) {
        cleanup();
        // Still draining: a client that goes away now errors a stream nobody else may listen to (any
        // stream, not only IncomingMessage, which stays quiet without listeners); that must not crash.
        req.on('error', () => {});
        req.resume(); // discard the rest
        reject(new RangeError('request body too large'));
        return;
      }
      chunks.push(buf);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onAborted = () => onError(new Error('request aborted'));
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    // A client that goes away mid-body: 'close' without 'end'.
    const onClose = () => onAborted();
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** A Node header value as one string (repeated headers joined as Node joins them). */
export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}
