import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface TestCertificates {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
}

/** A throwaway CA and a certificate for `localhost` signed by it, made with openssl. */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strom-tls-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Strom test CA',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  );
  writeFileSync(file('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('san.ext'),
    '-out',
    file('server.pem'),
  );
  return {
    dir,
    caFile: file('ca.pem'),
    certFile: file('server.pem'),
    keyFile: file('server.key'),
    ca: readFileSync(file('ca.pem')),
  };
}

/**
 * Makes this test process trust the test CA for every TLS connection it opens (libraries such as
 * @xmpp/client call tls.connect without a way to pass a CA); certificates are still verified.
 */
export function trustTestCa(ca: Buffer): void {
  const original = tls.connect;
  const patched = ((...args: unknown[]) => {
    const [first] = args;
    if (typeof first === 'object' && first !== null) {
      const options = first as tls.ConnectionOptions;
      options.ca ??= [...tls.rootCertificates, ca.toString()];
    }
    return (original as (...all: unknown[]) => tls.TLSSocket)(...args);
  }) as typeof tls.connect;
  (tls as { connect: typeof tls.connect }).connect = patched;
}
