/**
 * TLS fixtures for the store TLS tests: a throwaway CA, a server certificate for localhost /
 * 127.0.0.1, a client certificate (mutual TLS), and a second, untrusted CA with its own client
 * certificate, all made with the `openssl` CLI in a temp dir; and a TLS `redis-server` started on
 * a free loopback port. Nothing here touches the shared Redis or PostgreSQL.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certs {
  dir: string;
  /** The CA that signed the server and client certificates. */
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA nobody trusts, and a client certificate it signed. */
  otherCa: string;
  otherClientCert: string;
  otherClientKey: string;
}

/** Under CI a missing tool fails the test run; elsewhere the tests are skipped with a loud reason. */
export function ciRequired(): boolean {
  const ci = process.env.CI;
  return !!ci && ci !== 'false' && ci !== '0';
}

function which(cmd: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

/** Makes the certificates in a new temp dir; throws a readable reason when openssl is missing. */
export function makeCerts(): Certs {
  if (!which('openssl')) throw new Error('the openssl CLI is not installed (needed to make test certificates)');
  const dir = mkdtempSync(join(tmpdir(), 'tessera-tls-'));
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    const ca = (name: string) => openssl(['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=tessera test ${name}`], dir);
    const leaf = (name: string, signer: string, ext: string) => {
      writeFileSync(join(dir, `${name}.ext`), ext);
      openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=tessera test ${name}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`], dir);
    };
    ca('ca');
    ca('other-ca');
    leaf('server', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    leaf('client', 'ca', 'extendedKeyUsage=clientAuth\n');
    leaf('other-client', 'other-ca', 'extendedKeyUsage=clientAuth\n');
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl failed to make test certificates: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
  }
  const p = (f: string) => join(dir, f);
  return {
    dir,
    ca: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    clientCert: p('client.pem'),
    clientKey: p('client.key'),
    otherCa: p('other-ca.pem'),
    otherClientCert: p('other-client.pem'),
    otherClientKey: p('other-client.key'),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TlsRedis {
  port: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// Should the test process end without its afterAll (a crash), leave no redis-server behind.
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * Starts `redis-server` with TLS only (no plain port) on a free loopback port, persistence off, its
 * working dir in `certs.dir`. `authClients`: require a client certificate (`--tls-auth-clients yes`).
 * Throws a readable reason when it cannot (no redis-server, a build without TLS).
 */
export async function startTlsRedis(certs: Certs, authClients: boolean, readyMs = 10_000): Promise<TlsRedis> {
  const bin = which('redis-server');
  if (!bin) throw new Error('redis-server is not installed');
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    // prettier-ignore
    const args = [
      '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
      '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey, '--tls-ca-cert-file', certs.ca,
      '--tls-auth-clients', authClients ? 'yes' : 'no',
      '--save', '', '--appendonly', 'no', '--dir', certs.dir, '--daemonize', 'no', '--loglevel', 'notice',
    ];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    const ready = await new Promise<boolean>(resolve => {
      const timer = setTimeout(() => resolve(false), readyMs);
      const onData = (b: Buffer) => {
        out += b.toString();
        if (/Ready to accept connections/.test(out)) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
      child.once('error', err => {
        out += String(err);
        clearTimeout(timer);
        resolve(false);
      });
    });
    const stop = () =>
      new Promise<void>(resolve => {
        if (child.exitCode !== null || child.signalCode !== null) {
          running.delete(child);
          return resolve();
        }
        const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(kill);
          running.delete(child);
          resolve();
        });
        child.kill('SIGTERM');
      });
    if (ready) {
      child.stdout!.resume();
      child.stderr!.resume();
      return { port, stop };
    }
    await stop();
    lastError = out.split('\n').filter(l => /#|error|fatal|tls|bad directive/i.test(l)).slice(-4).join(' | ') || out.slice(-300) || 'no output';
    if (!/address already in use/i.test(out)) break;
  }
  throw new Error(`redis-server did not start with TLS (a build without TLS support?): ${lastError}`);
}
