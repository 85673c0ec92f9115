// Who may see the status page: a sign-in link (common/status-page-link.ts) is checked against the
// key derived from the cluster secret, its expiry, revocation and the identity's role, and works
// once; it opens a browser session, a random cookie value kept in a bounded table with an idle
// expiry. Times are given by the caller; randomness is injected.

import { timingSafeEqual } from 'node:crypto';
import { limits } from '../common/limits.js';
import { deriveKey } from '../common/credentials.js';
import { signInMac } from '../common/status-page-link.js';
import { parseIdentity, type Role } from '../core/access-policy.js';

export interface WebSessionsOptions {
  clusterSecret: Buffer;
  isRevoked: (identity: string) => boolean;
  /** Whether this role may read the status (the mediator's access policy for `status`). */
  mayView: (role: Role) => boolean;
  /** A fresh session id: unguessable (32 random bytes, hex). */
  newSessionId: () => string;
}

export type SignInResult = { ok: true; sessionId: string } | { ok: false; reason: string };

export class WebSessions {
  /** Used links' MACs and when each expires (after which it is refused for that anyway). */
  private readonly usedLinks = new Map<string, number>();
  /** Session id → last use; in order of last use (re-inserted on each), oldest first. */
  private readonly sessions = new Map<string, number>();

  constructor(private readonly options: WebSessionsOptions) {}

  signIn(query: { identity: string | null; expires: string | null; mac: string | null }, nowMs: number): SignInResult {
    const { identity, expires, mac } = query;
    if (identity === null || expires === null || mac === null) return { ok: false, reason: 'the link lacks identity, expires or mac' };
    const parsed = parseIdentity(identity);
    if (!parsed) return { ok: false, reason: 'the link names no identity of this cluster' };
    if (!/^\d{1,16}$/.test(expires) || !/^[0-9a-f]{64}$/.test(mac)) return { ok: false, reason: 'the link is malformed' };
    const expiresMs = Number(expires);
    const expected = Buffer.from(signInMac(deriveKey(this.options.clusterSecret, identity), identity, expiresMs), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) return { ok: false, reason: 'the link was not made with a credential of this cluster' };
    if (expiresMs <= nowMs) return { ok: false, reason: 'the link has expired' };
    if (expiresMs > nowMs + limits.statusPageLinkTtlMs + limits.statusPageClockSkewMs) return { ok: false, reason: 'the link expires too far ahead' };
    if (this.options.isRevoked(identity)) return { ok: false, reason: `${identity} is revoked` };
    if (!this.options.mayView(parsed.role)) return { ok: false, reason: `the role ${parsed.role} may not read the status` };
    this.forgetExpiredLinks(nowMs);
    if (this.usedLinks.has(mac)) return { ok: false, reason: 'the link was used already' };
    // Refuse rather than forget a used link early: forgetting would let it work a second time.
    if (this.usedLinks.size >= limits.statusPageUsedLinksKept) return { ok: false, reason: 'too many sign-ins lately; try again in a few minutes' };
    this.usedLinks.set(mac, expiresMs);
    const sessionId = this.options.newSessionId();
    this.forgetIdleSessions(nowMs);
    if (this.sessions.size >= limits.statusPageMaxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(sessionId, nowMs);
    return { ok: true, sessionId };
  }

  /** Whether the session is valid now; a valid one counts as used now. */
  touch(sessionId: string | undefined, nowMs: number): boolean {
    if (sessionId === undefined) return false;
    const lastUsedMs = this.sessions.get(sessionId);
    if (lastUsedMs === undefined) return false;
    this.sessions.delete(sessionId);
    if (nowMs - lastUsedMs > limits.statusPageSessionIdleMs) return false;
    this.sessions.set(sessionId, nowMs);
    return true;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private forgetExpiredLinks(nowMs: number): void {
    for (const [mac, expiresMs] of this.usedLinks) if (expiresMs <= nowMs) this.usedLinks.delete(mac);
  }

  private forgetIdleSessions(nowMs: number): void {
    for (const [id, lastUsedMs] of this.sessions) {
      if (nowMs - lastUsedMs <= limits.statusPageSessionIdleMs) break; // in order of last use
      this.sessions.delete(id);
    }
  }
}
