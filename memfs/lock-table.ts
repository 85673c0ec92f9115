// LockTable: POSIX record locks (fcntl F_GETLK/F_SETLK/F_SETLKW) of one inode, by lock owner.
// Invariants: an owner's ranges never overlap each other (setting a range replaces what the
// owner held there, splitting as needed); two owners' ranges overlap only if both are read
// locks. Waiters (F_SETLKW) retry whenever anything is released and give up on abort (EINTR).

import { fuseError } from '../src/fuse/fuse-error.js';
import type { FileLock } from '../src/fuse/fuse-operations.js';

const F_WRLCK = 1;
const F_UNLCK = 2;

interface HeldLock {
  owner: bigint;
  pid: number;
  type: number;
  start: number;
  /** Inclusive; Infinity for "to end of file". */
  end: number;
}

function endOf(lock: FileLock): number {
  return lock.len === 0 ? Infinity : lock.start + lock.len - 1;
}

function conflicts(held: HeldLock, owner: bigint, type: number, start: number, end: number): boolean {
  return held.owner !== owner && held.start <= end && start <= held.end && (held.type === F_WRLCK || type === F_WRLCK);
}

export class LockTable {
  private held: HeldLock[] = [];
  private waiters = new Set<() => void>();

  get isEmpty(): boolean {
    return this.held.length === 0 && this.waiters.size === 0;
  }

  /** The first lock that would block `lock` for `owner`, or an F_UNLCK lock if none. */
  test(owner: bigint, lock: FileLock): FileLock {
    const end = endOf(lock);
    const blocker = this.held.find((h) => conflicts(h, owner, lock.type, lock.start, end));
    if (!blocker) return { type: F_UNLCK, start: lock.start, len: lock.len, pid: lock.pid };
    return {
      type: blocker.type,
      start: blocker.start,
      len: blocker.end === Infinity ? 0 : blocker.end - blocker.start + 1,
      pid: blocker.pid,
    };
  }

  /**
   * Sets (or with F_UNLCK releases) a lock. Without `wait`, a conflict is EAGAIN; with it,
   * waits until the range is free or `signal` aborts (EINTR).
   */
  async set(owner: bigint, lock: FileLock, wait: boolean, signal?: AbortSignal): Promise<void> {
    const end = endOf(lock);
    if (lock.type !== F_UNLCK) {
      while (this.held.some((h) => conflicts(h, owner, lock.type, lock.start, end))) {
        if (!wait) throw fuseError('EAGAIN');
        await this.waitForRelease(signal);
      }
    }
    this.replaceRange(owner, lock.pid, lock.type, lock.start, end);
    this.wakeWaiters();
  }

  /** Drops every lock of `owner` (close of the last descriptor). */
  releaseOwner(owner: bigint): void {
    const before = this.held.length;
    this.held = this.held.filter((h) => h.owner !== owner);
    if (this.held.length !== before) this.wakeWaiters();
  }

  private replaceRange(owner: bigint, pid: number, type: number, start: number, end: number): void {
    const next: HeldLock[] = [];
    for (const h of this.held) {
      if (h.owner !== owner || h.end < start || h.start > end) {
        next.push(h);
        continue;
      }
      if (h.start < start) next.push({ ...h, end: start - 1 });
      if (h.end > end) next.push({ ...h, start: end + 1 });
    }
    if (type !== F_UNLCK) next.push({ owner, pid, type, start, end });
    this.held = next;
  }

  private wakeWaiters(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }

  private waitForRelease(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(fuseError('EINTR'));
        return;
      }
      const onAbort = (): void => {
        this.waiters.delete(wake);
        reject(fuseError('EINTR'));
      };
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
