// Loads the native addon (native/fuse/build/Release/quorumfs_fuse.node) and types its surface.
// Only fuse-binding.ts talks to it. The addon is found by walking up from this file to the
// repository root, so it works from src/ (ts loaders) and from dist/src/ alike;
// QUORUMFS_FUSE_ADDON overrides the path.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque session handle (a napi external). */
export interface NativeHandle {
  readonly __brand: 'quorumfs.fuse.session';
}

/** The JS side of every message from native threads (see requests.c, qfs_call_js). */
export type NativeDispatch = (
  op: number,
  id: number,
  uid: number,
  gid: number,
  pid: number,
  umask: number,
  ino: number,
  n0: number | undefined,
  n1: number | undefined,
  n2: number | undefined,
  n3: number | undefined,
  n4: number | undefined,
  n5: number | undefined,
  n6: number | undefined,
  n7: number | undefined,
  /** A name's bytes (any but '/' and NUL: not necessarily UTF-8). */
  s1: Buffer | undefined,
  /** The second name (rename) or the symlink target, as bytes. */
  s2: Buffer | undefined,
  data: Buffer | Float64Array | undefined,
  owner: bigint | undefined,
) => void;

export interface NativeConnConfig {
  maxWriteBytes: number;
  maxReadaheadBytes: number;
  maxBackground: number;
  congestionThreshold: number;
  writebackCache: boolean;
  splice: boolean;
  readdirplusAuto: boolean;
  handleKillpriv: boolean;
  atomicOTrunc: boolean;
  autoInvalData: boolean;
  cacheSymlinks: boolean;
  asyncDio: boolean;
  maxThreads: number;
  maxIdleThreads: number;
  cloneFd: boolean;
}

interface NativeCreateOptions {
  mountpoint: string;
  /** fuse_session_new arguments, e.g. ['-o', 'allow_other,fsname=x']. */
  args: string[];
  /** Operation codes to register. */
  ops: number[];
  conn: NativeConnConfig;
  dispatch: NativeDispatch;
}

/**
 * Reply functions return null when the request is not pending (already answered, or dropped
 * at teardown), else fuse_reply_*'s result: 0 or a negative errno (-ENOENT: the caller was
 * interrupted and the reply discarded). replyDirents returns the number of entries packed.
 */
export interface NativeBinding {
  create(options: NativeCreateOptions): NativeHandle;
  mount(handle: NativeHandle): Promise<void>;
  exit(handle: NativeHandle): boolean;
  destroy(handle: NativeHandle): boolean;
  pendingCount(handle: NativeHandle): number;
  fuseVersion(): number;
  /** 0 when queued (result arrives as NOTIFY_DONE), else a positive errno. */
  notify(handle: NativeHandle, kind: number, id: number, a: number, b: number, c: number, name?: Buffer): number;
  replyErr(handle: NativeHandle, id: number, errno: number): number | null;
  replyEntry(handle: NativeHandle, id: number, entry: Float64Array): number | null;
  replyCreate(handle: NativeHandle, id: number, entry: Float64Array, fh: number, openBits: number): number | null;
  replyAttr(handle: NativeHandle, id: number, attr: Float64Array): number | null;
  replyReadlink(handle: NativeHandle, id: number, target: Buffer): number | null;
  replyOpen(handle: NativeHandle, id: number, fh: number, openBits: number): number | null;
  replyWrite(handle: NativeHandle, id: number, count: number): number | null;
  replyBuf(handle: NativeHandle, id: number, data: Uint8Array | null): number | null;
  replyXattrSize(handle: NativeHandle, id: number, size: number): number | null;
  replyStatfs(handle: NativeHandle, id: number, block: Float64Array): number | null;
  replyLock(handle: NativeHandle, id: number, type: number, start: number, len: number, pid: number): number | null;
  replyLseek(handle: NativeHandle, id: number, offset: number): number | null;
  replyDirents(handle: NativeHandle, id: number, plus: boolean, names: Buffer[], numbers: Float64Array): number | null;
}

const ADDON_RELATIVE_PATH = join('native', 'fuse', 'build', 'Release', 'quorumfs_fuse.node');
const MAX_PARENT_LEVELS = 6;

function findAddon(): string {
  const override = process.env['QUORUMFS_FUSE_ADDON'];
  if (override) return override;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < MAX_PARENT_LEVELS; i++) {
    const candidate = join(dir, ADDON_RELATIVE_PATH);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(
    `quorumfs FUSE addon not found (${ADDON_RELATIVE_PATH}); build it with ` +
      '`node-gyp rebuild --directory native/fuse`',
  );
}

let loaded: NativeBinding | undefined;

/** The addon, loaded on first use. */
export function loadNativeBinding(): NativeBinding {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    loaded = require(findAddon()) as NativeBinding;
  }
  return loaded;
}
