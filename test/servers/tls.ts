/**
 * A throwaway TLS identity for loopback test servers: a self-signed certificate for 127.0.0.1 that
 * also serves as the only CA a test client trusts. Made with the openssl CLI (node:crypto makes
 * keys but not certificates); the argv holds file paths only and the temp dir is removed at once.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestTls {
  /** The server certificate, PEM; also the CA to trust. */
  cert: string;
  /** The server's private key, PEM (EC P-256). */
  key: string;
}

/** A fresh self-signed certificate for IP 127.0.0.1 and DNS localhost, valid for one day. */
export function makeTestTls(): TestTls {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsops-tls-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        '/CN=tsops test CA',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,digitalSignature,keyCertSign',
        '-addext',
        'extendedKeyUsage=serverAuth',
      ],
      { stdio: 'pipe' },
    );
    return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
