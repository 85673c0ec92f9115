// The etcd engine's key layout and record codecs. Under the store's prefix P:
//   P i/<ino>              inode record (JSON): attributes; a symlink's target; a directory's parent,
//                          entry count and next entry id. Every change to an inode's entries, block
//                          map or xattrs also rewrites this record, so comparing its mod revision
//                          covers them all.
//   P e/<dir>/<name>       directory entry by name (name as raw bytes): {ino, id}
//   P d/<dir>/<id>         the same entry by id (readdir order, stable cookies): {name, ino}
//   P b/<ino>/<chunk>      block map: up to limits.etcdBlocksPerChunk entries of one file
//   P x/<ino>/<name>       extended attribute value (raw bytes)
//   P h/<session>/<ino>    a hold, by session; P H/<ino>/<session> the same hold by inode;
//   P s/<session>          present while the session holds something
//   P c/<shard>            counter shard: {inodes, blocks, bytes} deltas, summed by counts()
//   P n/ino, P n/version   counters that only grow; P m/dirmoves bumped by each directory move
// Numbers are fixed-width hex so that key order is numeric order; sessions are hex of their UTF-8.

import type { BlockRef, InodeAttr } from '../common/types.js';

export const KEY_FORMAT_VERSION = 1;

export interface InodeRecord {
  /** Record format version. */
  v: number;
  a: InodeAttr;
  /** Symlink target bytes, base64. */
  t?: string;
  /** Directories: the parent's inode number (the root: itself). */
  p?: number;
  /** Directories: entries other than '.' and '..'. */
  n?: number;
  /** Directories: the id the next entry gets (ids only grow: readdir cookies stay valid). */
  c?: number;
}

export interface EntryRecord {
  ino: number;
  id: number;
}

export interface DirIndexRecord {
  /** Name bytes, base64. */
  name: string;
  ino: number;
}

/** Block-map entries of one chunk, in index order: [index, version, checksum, lengthBytes]. */
export type ChunkRecord = Array<[number, number, string, number]>;

export interface CounterRecord {
  inodes: number;
  blocks: number;
  bytes: number;
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');
const hex12 = (n: number): string => n.toString(16).padStart(12, '0');

export class MetaKeys {
  constructor(readonly prefix: string) {}

  private k(...parts: Array<string | Buffer>): Buffer {
    return Buffer.concat([Buffer.from(this.prefix), ...parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))]);
  }

  inode(ino: number): Buffer {
    return this.k('i/', hex16(ino));
  }
  inodesPrefix(): Buffer {
    return this.k('i/');
  }
  entry(dir: number, nameBytes: Buffer): Buffer {
    return this.k('e/', hex16(dir), '/', nameBytes);
  }
  entriesPrefix(dir: number): Buffer {
    return this.k('e/', hex16(dir), '/');
  }
  dirIndex(dir: number, id: number): Buffer {
    return this.k('d/', hex16(dir), '/', hex12(id));
  }
  dirIndexPrefix(dir: number): Buffer {
    return this.k('d/', hex16(dir), '/');
  }
  chunk(ino: number, chunk: number): Buffer {
    return this.k('b/', hex16(ino), '/', hex12(chunk));
  }
  chunksPrefix(ino: number): Buffer {
    return this.k('b/', hex16(ino), '/');
  }
  allChunksPrefix(): Buffer {
    return this.k('b/');
  }
  /** The (ino, chunk) a chunk key names. */
  parseChunk(key: Buffer): { ino: number; chunk: number } {
    const rest = key.subarray(this.prefix.length + 2).toString();
    return { ino: parseInt(rest.slice(0, 16), 16), chunk: parseInt(rest.slice(17), 16) };
  }
  xattr(ino: number, nameBytes: Buffer): Buffer {
    return this.k('x/', hex16(ino), '/', nameBytes);
  }
  xattrsPrefix(ino: number): Buffer {
    return this.k('x/', hex16(ino), '/');
  }
  hold(session: string, ino: number): Buffer {
    return this.k('h/', sessionHex(session), '/', hex16(ino));
  }
  holdsOfSessionPrefix(session: string): Buffer {
    return this.k('h/', sessionHex(session), '/');
  }
  holdByInode(ino: number, session: string): Buffer {
    return this.k('H/', hex16(ino), '/', sessionHex(session));
  }
  holdsOfInodePrefix(ino: number): Buffer {
    return this.k('H/', hex16(ino), '/');
  }
  session(session: string): Buffer {
    return this.k('s/', sessionHex(session));
  }
  sessionsPrefix(): Buffer {
    return this.k('s/');
  }
  /** The session a session key names. */
  parseSession(key: Buffer): string {
    return Buffer.from(key.subarray(this.prefix.length + 2).toString(), 'hex').toString('utf8');
  }
  /** The inode a hold-by-session key names. */
  parseHoldIno(key: Buffer): number {
    const text = key.toString();
    return parseInt(text.slice(text.length - 16), 16);
  }
  counterShard(shard: number): Buffer {
    return this.k('c/', shard.toString(16).padStart(2, '0'));
  }
  countersPrefix(): Buffer {
    return this.k('c/');
  }
  inodeCounter(): Buffer {
    return this.k('n/ino');
  }
  versionCounter(): Buffer {
    return this.k('n/version');
  }
  dirMoves(): Buffer {
    return this.k('m/dirmoves');
  }
}

function sessionHex(session: string): string {
  return Buffer.from(session, 'utf8').toString('hex');
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function decodeJson<T>(value: Buffer): T {
  return JSON.parse(value.toString('utf8')) as T;
}

export function chunkToRefs(chunk: ChunkRecord): BlockRef[] {
  return chunk.map(([index, version, checksum, lengthBytes]) => ({ index, version, checksum, lengthBytes }));
}

export function refsToChunk(refs: BlockRef[]): ChunkRecord {
  return [...refs].sort((a, b) => a.index - b.index).map((r) => [r.index, r.version, r.checksum, r.lengthBytes]);
}
