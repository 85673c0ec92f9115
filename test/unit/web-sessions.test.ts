// The status page's sign-in: a link works once and only as made by a key of the cluster, in its
// time window, for a role that may read the status and an identity not revoked; sessions and the
// memory of used links stay within their bounds, and an idle session ends.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { deriveKey } from '../../src/common/credentials.js';
import { limits } from '../../src/common/limits.js';
import { signInMac } from '../../src/common/status-page-link.js';
import { WebSessions } from '../../src/services/web-sessions.js';

const secret = randomBytes(32);

function sessions(revoked: string[] = []): WebSessions {
  let n = 0;
  return new WebSessions({
    clusterSecret: secret,
    isRevoked: (identity) => revoked.includes(identity),
    mayView: (role) => role !== 'server',
    newSessionId: () => `session-${++n}`,
  });
}

function link(identity: string, expiresMs: number, key = deriveKey(secret, identity)) {
  return { identity, expires: String(expiresMs), mac: signInMac(key, identity, expiresMs) };
}

describe('web sessions', () => {
  it('signs in once per link, and the session is valid until idle too long', () => {
    const s = sessions();
    const nowMs = 1_000_000;
    const l = link('admin.owner', nowMs + 60_000);
    const first = s.signIn(l, nowMs);
    assert.deepEqual(first, { ok: true, sessionId: 'session-1' });
    assert.deepEqual(s.signIn(l, nowMs + 1), { ok: false, reason: 'the link was used already' });
    assert.equal(s.touch('session-1', nowMs + 1_000), true);
    assert.equal(s.touch('session-2', nowMs + 1_000), false);
    assert.equal(s.touch(undefined, nowMs + 1_000), false);
    assert.equal(s.touch('session-1', nowMs + 1_000 + limits.statusPageSessionIdleMs + 1), false);
    assert.equal(s.touch('session-1', nowMs + 1_000 + limits.statusPageSessionIdleMs + 2), false, 'gone for good');
  });

  it('refuses links that are forged, expired, too far ahead, malformed, of a role that may not read, or revoked', () => {
    const s = sessions(['admin.gone']);
    const nowMs = 5_000_000;
    const refused = (q: { identity: string | null; expires: string | null; mac: string | null }): string => {
      const r = s.signIn(q, nowMs);
      assert.equal(r.ok, false);
      return r.ok ? '' : r.reason;
    };
    assert.match(refused(link('admin.x', nowMs + 1_000, deriveKey(randomBytes(32), 'admin.x'))), /not made with a credential/);
    assert.match(refused({ ...link('admin.x', nowMs + 1_000), identity: 'admin.y' }), /not made with a credential/);
    assert.match(refused({ ...link('admin.x', nowMs + 1_000), expires: String(nowMs + 2_000) }), /not made with a credential/);
    assert.match(refused(link('admin.x', nowMs)), /expired/);
    assert.match(refused(link('admin.x', nowMs + limits.statusPageLinkTtlMs + limits.statusPageClockSkewMs + 1)), /too far ahead/);
    assert.match(refused(link('guest.x', nowMs + 1_000)), /no identity/);
    assert.match(refused(link('server.x', nowMs + 1_000)), /role server may not/);
    assert.match(refused(link('admin.gone', nowMs + 1_000)), /revoked/);
    assert.match(refused({ identity: 'admin.x', expires: '12abc', mac: 'zz' }), /malformed/);
    assert.match(refused({ identity: 'admin.x', expires: null, mac: null }), /lacks/);
    assert.equal(s.sessionCount, 0);
    // Made with the longest expiry on a host whose clock runs 30 s ahead: accepted.
    assert.equal(s.signIn(link('admin.skewed', nowMs + limits.statusPageLinkTtlMs + 30_000), nowMs).ok, true);
  });

  it('keeps sessions within their bound, the least recently used going first', () => {
    const s = sessions();
    const nowMs = 9_000_000;
    const ids: string[] = [];
    for (let i = 0; i < limits.statusPageMaxSessions + 10; i++) {
      const r = s.signIn(link(`client.c${i}`, nowMs + 60_000), nowMs + i);
      assert.ok(r.ok);
      ids.push(r.sessionId);
      if (i === 200) assert.equal(s.touch(ids[0], nowMs + i), true); // keep the first in use
    }
    assert.equal(s.sessionCount, limits.statusPageMaxSessions);
    assert.equal(s.touch(ids[0], nowMs + 1_000), true, 'used lately: kept');
    assert.equal(s.touch(ids[1], nowMs + 1_000), false, 'least recently used: gone');
  });

  it('remembers used links only up to its bound, refusing rather than forgetting one early', () => {
    const s = sessions();
    const nowMs = 20_000_000;
    for (let i = 0; i < limits.statusPageUsedLinksKept; i++) assert.ok(s.signIn(link(`client.u${i}`, nowMs + 60_000), nowMs).ok);
    const more = s.signIn(link('client.more', nowMs + 60_000), nowMs);
    assert.deepEqual(more, { ok: false, reason: 'too many sign-ins lately; try again in a few minutes' });
    // Once those links have expired they need no remembering.
    assert.ok(s.signIn(link('client.more', nowMs + 120_000), nowMs + 60_000).ok);
  });
});
