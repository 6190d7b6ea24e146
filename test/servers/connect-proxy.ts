/**
 * A loopback HTTPS proxy (HTTP CONNECT) that sends chosen hosts to local servers, for clients that
 * only talk to a service's real host name (the Azure SDK, whose vault must be `*.vault.azure.net`):
 * point HTTPS_PROXY at it and map `host:port` (or `*.domain:port`) to a loopback port. The TLS runs
 * end to end between the client and the local server, which needs a certificate for the real name.
 * Any other host is refused (403), so nothing leaves 127.0.0.1.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ConnectProxy {
  /** `http://127.0.0.1:PORT`, for HTTPS_PROXY. */
  url: string;
  /** Every CONNECT target asked for (`host:port`), in order; refused ones too. */
  connects: string[];
  /** Every plain-HTTP request forwarded in absolute form (`http://host:port/path`), refused ones too. */
  forwards: string[];
  /** The Proxy-Authorization headers received, in order ('' when absent). */
  authorizations: string[];
  close(): Promise<void>;
}

function routeFor(routes: Record<string, number>, target: string): number | undefined {
  const t = target.toLowerCase();
  if (routes[t] !== undefined) return routes[t];
  const [host, port] = [t.slice(0, t.lastIndexOf(':')), t.slice(t.lastIndexOf(':') + 1)];
  for (const [pattern, to] of Object.entries(routes)) {
    const m = /^\*\.(.+):(\d+)$/.exec(pattern.toLowerCase());
    if (m && m[2] === port && host.endsWith(`.${m[1]}`)) return to;
  }
  return undefined;
}

export async function startConnectProxy(routes: Record<string, number>): Promise<ConnectProxy> {
  const connects: string[] = [];
  const forwards: string[] = [];
  const authorizations: string[] = [];
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server = http.createServer((req, res) => {
    // a plain-HTTP request in absolute form (http://host:port/path), forwarded to a routed host
    let target: URL | undefined;
    try {
      target = /^http:\/\//.test(req.url ?? '') ? new URL(req.url ?? '') : undefined;
    } catch {
      target = undefined;
    }
    if (!target) {
      res.writeHead(405, { 'content-type': 'text/plain' });
      res.end('this proxy tunnels (CONNECT) and forwards absolute http:// requests only\n');
      return;
    }
    forwards.push(target.href);
    authorizations.push(req.headers['proxy-authorization'] ?? '');
    const port = routeFor(routes, `${target.hostname}:${target.port || '80'}`);
    if (port === undefined) {
      res.writeHead(403).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const up = http.request(
      { host: '127.0.0.1', port, method: req.method, path: `${target.pathname}${target.search}`, headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => {
    track(sock);
    const target = req.url ?? '';
    connects.push(target);
    authorizations.push(req.headers['proxy-authorization'] ?? '');
    const port = routeFor(routes, target);
    if (port === undefined) {
      sock.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const up = net.connect(port, '127.0.0.1', () => {
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    track(up);
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connects,
    forwards,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
