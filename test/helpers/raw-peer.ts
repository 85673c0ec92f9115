// A raw TCP peer for tests that misbehave on purpose: it writes whatever bytes it is given and
// collects the frames the server sends back, and whether the server closed the connection.

import net from 'node:net';
import { readFile } from 'node:fs/promises';
import { FRAME_EVENT, FrameDecoder } from '../../src/protocol/frame-codec.js';

export interface ReplyFrame {
  kind: number;
  header: unknown;
}

export class RawPeer {
  /** Every frame but events, in order. */
  readonly frames: ReplyFrame[] = [];
  events = 0;
  closed = false;
  /** Set if the server sent bytes that do not decode as frames. */
  garbageFromServer: Error | undefined;
  private readonly decoder = new FrameDecoder();
  private readonly listeners = new Set<() => void>();

  private constructor(readonly socket: net.Socket, read: boolean) {
    if (read) {
      socket.on('data', (chunk: Buffer) => {
        try {
          for (const f of this.decoder.push(chunk)) {
            // Events (the mediator's invalidations) come whenever other clients change things.
            if (f.kind === FRAME_EVENT) this.events++;
            else this.frames.push({ kind: f.kind, header: f.header });
          }
        } catch (err) {
          this.garbageFromServer = err instanceof Error ? err : new Error(String(err));
        }
        this.notify();
      });
    }
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  /** Connects; with read false the peer never reads what the server sends (a slow reader). */
  static connect(port: number, options: { read?: boolean } = {}): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const peer = new RawPeer(socket, options.read ?? true);
      socket.once('connect', () => resolve(peer));
      socket.once('error', reject);
    });
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Resolves once `check` holds; rejects after `timeoutMs` (a liveness deadline). */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.frames.length} frames, closed: ${this.closed})`));
      }, timeoutMs);
      this.listeners.add(listener);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** Resident memory of a process, from /proc. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}
