// The mediator's web status page (`--http-port`): the page and its assets from web/, the status
// as JSON, and a live stream of server-sent events (a snapshot, then the status every second, each
// load point and each cluster event as it happens). Behind a sign-in (web-sessions.ts) unless the
// cluster runs with --insecure-loopback. Every stream, session and buffer is bounded (limits.ts);
// every response forbids inline script and sniffing.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOOPBACK, formatAddress, isUnspecifiedHost, type Address } from '../common/address.js';
import { messageOf } from '../common/errors.js';
import { limits } from '../common/limits.js';
import type { Logger } from '../common/logger.js';
import type { ClusterEvent } from '../core/event-log.js';
import type { LoadPoint } from '../core/load-history.js';
import type { StatusReport } from '../protocol/mediator-messages.js';
import type { WebSessions } from './web-sessions.js';
import { listenHttp } from '../transport/http-listen.js';

/** What the page shows, read from the mediator. */
export interface StatusPageSource {
  status(): Promise<StatusReport>;
  /** The newest `max` events, oldest first. */
  recentEvents(max: number): ClusterEvent[];
  loadPoints(): LoadPoint[];
}

export interface StatusPageOptions {
  host: string;
  /** 0: an ephemeral port. */
  port: number;
  logger: Logger;
  source: StatusPageSource;
  /** The sign-in; undefined serves everyone (--insecure-loopback, loopback only). */
  sessions: WebSessions | undefined;
  nowMs: () => number;
}

/** web/ at the repository root: this module runs from dist/src/services/. */
const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));
const ASSETS: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/status-page.js': { file: 'status-page.js', type: 'text/javascript; charset=utf-8' },
  '/status-page.css': { file: 'status-page.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

const SESSION_COOKIE = 'qfs_session';
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};
const SIGN_IN_HINT = 'Sign in: run `quorumfs status-page` on a host with credentials of this cluster and open the link it prints.';

interface Stream {
  res: http.ServerResponse;
  sessionId: string | undefined;
  lastWriteMs: number;
}

export class StatusPage {
  private readonly server: http.Server;
  private readonly assets = new Map<string, Buffer>();
  private readonly streams = new Set<Stream>();
  private pushTimer: NodeJS.Timeout | undefined;
  private pushing = false;
  private address: Address | undefined;

  constructor(private readonly options: StatusPageOptions) {
    this.server = http.createServer(
      { maxHeaderSize: limits.statusPageMaxHeaderBytes, headersTimeout: limits.statusPageHeadersTimeoutMs, requestTimeout: limits.statusPageRequestTimeoutMs },
      (req, res) => this.handle(req, res),
    );
  }

  /** Reads the assets, listens, and starts the pushes; the page's base URL (ends with '/'). */
  async start(): Promise<string> {
    for (const { file } of Object.values(ASSETS)) this.assets.set(file, await readFile(path.join(WEB_DIR, file)));
    const bound = await listenHttp(this.server, { host: this.options.host, port: this.options.port });
    this.address = { host: this.options.host, port: bound.port };
    this.pushTimer = setInterval(() => void this.pushStatus(), limits.statusPagePushIntervalMs);
    return this.url;
  }

  get url(): string {
    if (!this.address) return '';
    const host = isUnspecifiedHost(this.address.host) ? LOOPBACK : this.address.host;
    return `http://${formatAddress({ host, port: this.address.port })}/`;
  }

  async stop(): Promise<void> {
    if (this.pushTimer) clearInterval(this.pushTimer);
    for (const stream of this.streams) stream.res.destroy();
    this.streams.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** A cluster event, to every stream now. */
  publishEvent(event: ClusterEvent): void {
    this.broadcast('event', JSON.stringify(event));
  }

  /** Load points just closed, to every stream now. */
  publishLoad(points: LoadPoint[]): void {
    if (points.length > 0) this.broadcast('load', JSON.stringify(points));
  }

  // ---- requests ----

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://page.invalid');
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.reply(res, 405, 'text/plain; charset=utf-8', 'only GET\n', { Allow: 'GET, HEAD' });
    if (url.pathname === '/login') return this.login(url, res);
    const asset = ASSETS[url.pathname];
    // The favicon and the stylesheet give nothing away; a browser asks for them before signing in.
    const open = url.pathname === '/favicon.svg' || url.pathname === '/status-page.css';
    const sessionId = cookieOf(req.headers.cookie, SESSION_COOKIE);
    if (!open && this.options.sessions && !this.options.sessions.touch(sessionId, this.options.nowMs())) {
      return this.reply(res, 401, 'text/html; charset=utf-8', `<!doctype html><title>quorumfs: sign in</title><p>${escapeHtml(SIGN_IN_HINT)}</p>\n`);
    }
    if (asset) return this.reply(res, 200, asset.type, this.assets.get(asset.file)!);
    if (url.pathname === '/api/status') return void this.statusJson(res);
    if (url.pathname === '/api/stream') return void this.openStream(res, sessionId);
    this.reply(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }

  private login(url: URL, res: http.ServerResponse): void {
    const sessions = this.options.sessions;
    if (!sessions) return this.reply(res, 303, 'text/plain; charset=utf-8', '', { Location: '/' });
    const q = url.searchParams;
    const result = sessions.signIn({ identity: q.get('identity'), expires: q.get('expires'), mac: q.get('mac') }, this.options.nowMs());
    if (!result.ok) {
      this.options.logger.info({ reason: result.reason }, 'status page: sign-in refused');
      return this.reply(res, 403, 'text/html; charset=utf-8', `<!doctype html><title>quorumfs: sign-in refused</title><p>Sign-in refused: ${escapeHtml(result.reason)}. ${escapeHtml(SIGN_IN_HINT)}</p>\n`);
    }
    this.reply(res, 303, 'text/plain; charset=utf-8', '', {
      Location: '/',
      'Set-Cookie': `${SESSION_COOKIE}=${result.sessionId}; HttpOnly; SameSite=Strict; Path=/`,
    });
  }

  private async statusJson(res: http.ServerResponse): Promise<void> {
    try {
      this.reply(res, 200, 'application/json', JSON.stringify(await this.options.source.status()));
    } catch (err) {
      this.reply(res, 503, 'application/json', JSON.stringify({ error: messageOf(err) }));
    }
  }

  private async openStream(res: http.ServerResponse, sessionId: string | undefined): Promise<void> {
    if (this.streams.size >= limits.statusPageMaxStreams) return this.reply(res, 503, 'text/plain; charset=utf-8', 'too many status streams open\n');
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    const stream: Stream = { res, sessionId, lastWriteMs: this.options.nowMs() };
    this.streams.add(stream);
    res.on('close', () => this.streams.delete(stream));
    const source = this.options.source;
    const status = await source.status().then(
      (report) => ({ report }),
      (err: unknown) => ({ error: messageOf(err) }),
    );
    const snapshot = { ...status, load: source.loadPoints(), events: source.recentEvents(limits.statusPageEventsShown) };
    // The browser's EventSource tries again this soon after the stream breaks.
    this.write(stream, `retry: 2000\n\n${frame('snapshot', JSON.stringify(snapshot))}`);
  }

  // ---- pushes ----

  /** The status to every stream, at most one read at a time; and a keepalive to quiet ones. */
  private async pushStatus(): Promise<void> {
    if (this.streams.size === 0 || this.pushing) return;
    this.pushing = true;
    try {
      const text = await this.options.source.status().then(
        (report) => frame('status', JSON.stringify(report)),
        (err: unknown) => frame('status-error', JSON.stringify({ error: messageOf(err) })),
      );
      const nowMs = this.options.nowMs();
      for (const stream of [...this.streams]) {
        // A session that ended (idle past its bound, or pushed out by newer ones) ends its stream.
        if (this.options.sessions && !this.options.sessions.touch(stream.sessionId, nowMs)) {
          stream.res.destroy();
          this.streams.delete(stream);
          continue;
        }
        this.write(stream, text);
      }
    } finally {
      this.pushing = false;
    }
    const nowMs = this.options.nowMs();
    for (const stream of this.streams) if (nowMs - stream.lastWriteMs >= limits.statusPageKeepaliveMs) this.write(stream, ': keepalive\n\n');
  }

  private broadcast(name: string, data: string): void {
    const text = frame(name, data);
    for (const stream of [...this.streams]) this.write(stream, text);
  }

  /** Writes to one stream; a stream whose reader has fallen too far behind is closed. */
  private write(stream: Stream, text: string): void {
    if (stream.res.destroyed) {
      this.streams.delete(stream);
      return;
    }
    if (stream.res.writableLength > limits.statusPageStreamBufferBytes) {
      this.options.logger.info('status page: a stream read too slowly; closed');
      stream.res.destroy();
      this.streams.delete(stream);
      return;
    }
    stream.res.write(text);
    stream.lastWriteMs = this.options.nowMs();
  }

  private reply(res: http.ServerResponse, code: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
    res.writeHead(code, { ...SECURITY_HEADERS, 'Content-Type': type, ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}

/** One server-sent event; `data` is JSON, so it holds no newline. */
function frame(name: string, data: string): string {
  return `event: ${name}\ndata: ${data}\n\n`;
}

function cookieOf(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 32 random bytes, hex: a session id. */
export function newSessionId(): string {
  return randomBytes(32).toString('hex');
}
