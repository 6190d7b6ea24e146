/**
 * HTTP(S) proxies for the key service clients, chosen as sops's Go clients choose them
 * (`http.ProxyFromEnvironment`, the golang.org/x/net/http/httpproxy rules; gRPC-go uses the same):
 *
 * - `https://` requests use `HTTPS_PROXY` (else `https_proxy`), `http://` requests `HTTP_PROXY`
 *   (else `http_proxy`); the first non-empty variable wins; a value without a scheme means
 *   `http://…`; `user:pass@` in it is sent as `Proxy-Authorization: Basic`;
 * - never for `localhost` or a loopback IP;
 * - `NO_PROXY` (else `no_proxy`): `*` (no proxy at all), or comma-separated entries, each an IP
 *   (`10.1.2.3`, `[::1]`), a CIDR (`10.0.0.0/8`), or a domain that matches itself and its
 *   subdomains (`example.com`), only subdomains when it starts with `.` or `*.`; an IP or domain
 *   may carry a port (`example.com:8443`), then only that port is excluded.
 *
 * HTTPS goes through an HTTP CONNECT tunnel, with TLS end to end to the service. The settings are
 * read from the environment the caller passes (a key context's `env`), not from `process.env`.
 * Only node:http/https/net/tls are used; this module is loaded by the key service clients only.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

function firstSet(env: NodeJS.ProcessEnv, ...names: string[]): string {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v !== '') return v;
  }
  return '';
}

/** A proxy setting as Go parses it: no scheme means `http://`. */
function parseProxyUrl(value: string, variable: string): URL {
  let u: URL | undefined;
  try {
    u = new URL(value);
  } catch {
    u = undefined;
  }
  if (!u || !u.host || !/^[a-z][a-z0-9+.-]*:$/i.test(u.protocol) || !value.includes('://')) {
    try {
      u = new URL(`http://${value}`);
    } catch {
      throw new Error(`invalid proxy address in ${variable}: ${JSON.stringify(value)}`);
    }
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(
      `${variable}: ${u.protocol.slice(0, -1)} proxies are not supported (use an http:// or https:// proxy)`,
    );
  }
  return u;
}

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}

function bareHost(host: string): string {
  return host.replace(/^\[|\]$/g, '').toLowerCase();
}

function isLoopback(host: string): boolean {
  const h = bareHost(host);
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/** Whether NO_PROXY excludes `host:port` (Go's matchers; see the module comment). */
export function noProxyMatches(noProxy: string, host: string, port: string): boolean {
  const h = bareHost(host.trim());
  const family = net.isIP(h);
  for (const raw of noProxy.split(',')) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    if (p === '*') return true;
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(p);
    if (cidr) {
      const netAddr = bareHost(cidr[1]!);
      const type = net.isIP(netAddr);
      if (type && family === type) {
        const list = new net.BlockList();
        try {
          list.addSubnet(netAddr, Number(cidr[2]), type === 4 ? 'ipv4' : 'ipv6');
          if (list.check(h, type === 4 ? 'ipv4' : 'ipv6')) return true;
        } catch {
          // not a valid CIDR: Go skips it too
        }
      }
      continue;
    }
    let phost: string;
    let pport = '';
    const hp = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(p);
    if (hp) {
      phost = bareHost(hp[1]!);
      pport = hp[2]!;
      if (phost === '') continue;
    } else {
      phost = bareHost(p);
    }
    const ptype = net.isIP(phost);
    if (ptype) {
      if (family === ptype) {
        const list = new net.BlockList();
        list.addAddress(phost, ptype === 4 ? 'ipv4' : 'ipv6');
        if (list.check(h, ptype === 4 ? 'ipv4' : 'ipv6') && (pport === '' || pport === port)) return true;
      }
      continue;
    }
    if (phost.startsWith('*.')) phost = phost.slice(1);
    const matchHost = !phost.startsWith('.');
    if (matchHost) phost = `.${phost}`;
    if ((h.endsWith(phost) || (matchHost && h === phost.slice(1))) && (pport === '' || pport === port)) return true;
  }
  return false;
}

/**
 * The proxy sops's Go clients would use for `target` under `env`, or undefined for a direct
 * connection. Throws when the proxy variable that applies cannot be used.
 */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const https = target.protocol === 'https:';
  const names = https ? ['HTTPS_PROXY', 'https_proxy'] : ['HTTP_PROXY', 'http_proxy'];
  if (!https && target.protocol !== 'http:') return undefined;
  const value = firstSet(env, ...names);
  if (value === '') return undefined;
  const host = target.hostname;
  const port = target.port || defaultPort(target.protocol);
  if (isLoopback(host)) return undefined;
  if (noProxyMatches(firstSet(env, 'NO_PROXY', 'no_proxy'), host, port)) return undefined;
  const variable = names.find((n) => env[n] === value) ?? names[0]!;
  return parseProxyUrl(value, variable);
}

/** `Proxy-Authorization` for a proxy URL with user info, as Go sends it. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const user = decodeURIComponent(proxy.username);
  const pass = decodeURIComponent(proxy.password);
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

/** Where a proxy is, for messages (never its credentials). */
export function proxyLabel(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}

/** Open a CONNECT tunnel to `host:port` through `proxy`; resolves with the raw tunnel socket. */
export function openTunnel(proxy: URL, host: string, port: number, timeoutMs = 30_000): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const authority = `${net.isIPv6(bareHost(host)) ? `[${bareHost(host)}]` : host}:${port}`;
    const headers: http.OutgoingHttpHeaders = { host: authority };
    const auth = proxyAuthorization(proxy);
    if (auth) headers['proxy-authorization'] = auth;
    const lib = proxy.protocol === 'https:' ? https : http;
    const req = lib.request({
      host: bareHost(proxy.hostname),
      port: Number(proxy.port || defaultPort(proxy.protocol)),
      method: 'CONNECT',
      path: authority,
      headers,
      agent: false,
      timeout: timeoutMs,
    });
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(
          new Error(`the proxy ${proxyLabel(proxy)} refused the tunnel to ${authority}: HTTP ${res.statusCode ?? '?'}`),
        );
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('timeout', () =>
      req.destroy(new Error(`the proxy ${proxyLabel(proxy)} did not answer within ${timeoutMs / 1000} s`)),
    );
    req.once('error', (e: Error & { code?: string }) =>
      reject(new Error(`cannot reach the proxy ${proxyLabel(proxy)}: ${e.code ?? e.message}`)),
    );
    req.end();
  });
}

type CreateConnection = (
  options: tls.ConnectionOptions & { host?: string; port?: number },
  cb: (err: Error | null, s?: Duplex) => void,
) => Duplex | undefined;

/**
 * An `https.Agent` that tunnels each connection through the proxy `proxyFor` picks for its host
 * (or connects directly), with the agent's TLS options end to end.
 */
export class ProxyingHttpsAgent extends https.Agent {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    options: https.AgentOptions = {},
  ) {
    super(options);
  }

  /** The proxy for a host and port (undefined: direct). */
  proxyForHost(host: string, port: number): URL | undefined {
    const h = net.isIPv6(bareHost(host)) ? `[${bareHost(host)}]` : host;
    return proxyFor(new URL(`https://${h}:${port}`), this.env);
  }

  // Node's Agent calls createConnection(options, callback) and accepts the socket through the callback.
  override createConnection: CreateConnection = (options, cb) => {
    const host = options.host ?? 'localhost';
    const port = Number((options.port as number | string | undefined) ?? 443); // a caller may pass a string
    let proxy: URL | undefined;
    try {
      proxy = this.proxyForHost(host, port);
    } catch (e) {
      process.nextTick(() => cb(e as Error));
      return undefined;
    }
    if (!proxy) return tls.connect(options);
    openTunnel(proxy, host, port).then(
      (socket) => {
        const secure = tls.connect({ ...options, socket });
        cb(null, secure);
      },
      (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))),
    );
    return undefined;
  };
}
