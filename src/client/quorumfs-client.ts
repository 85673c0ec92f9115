// The typed client API of a quorumfs cluster, used by the FUSE mount, the CLI and tests. Calls
// go to the mediator, each with a deadline; inode-based calls mirror the FUSE operations, and a
// few path-based helpers (resolve, writeFile, readFile) serve tools and tests. Given several
// mediators, calls go to the one that leads (the RpcClient fails over), and the metadata
// server's address is asked of it again whenever that connection must be made again.

import { qfsError } from '../common/errors.js';
import { isUnspecifiedHost, type Address } from '../common/address.js';
import { limits } from '../common/limits.js';
import { ROOT_INO, S_IFDIR, S_IFREG, type Caller, type DirEntry, type InodeAttr, type SetAttrRequest, type Timespec } from '../common/types.js';
import { mediatorMethods, type StatusReport } from '../protocol/mediator-messages.js';
import { RpcClient, type RpcClientOptions } from '../transport/rpc-client.js';

interface ClientOptions extends RpcClientOptions {
  /** Identity used for new files and directories when a call does not give one. */
  caller?: Caller;
}

const m = mediatorMethods;

export class QuorumfsClient {
  readonly rpc: RpcClient;
  /** Where namespace calls go (names, attributes, directories, extended attributes): the
   * mediator, or the metadata server itself once connectMetaServer() has pointed them there. */
  ns: RpcClient;
  private readonly caller: Caller;

  /** One mediator, or several of one cluster (INVALID for none or over limits.maxPeerAddresses). */
  constructor(mediator: Address | readonly Address[], options: ClientOptions = {}) {
    this.rpc = new RpcClient(mediator, { peerName: 'mediator', retryIdempotent: true, ...options });
    this.ns = this.rpc;
    this.caller = options.caller ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }

  close(): void {
    this.rpc.close();
    if (this.ns !== this.rpc) this.ns.close();
  }

  /** Sends the namespace calls to the metadata server the mediator names, one hop less than
   * through the mediator; file data, holds and status still go to the mediator. The mediator is
   * asked again before every new connection to it and after it answers NOT_LEADER or fails, so
   * after a failover the calls go to the new leader's metadata server. */
  async connectMetaServer(options: RpcClientOptions): Promise<RpcClient> {
    const first = await this.metaServerAddress();
    this.ns = new RpcClient(first, {
      peerName: 'metadata server',
      retryIdempotent: true,
      ...options,
      resolveAddress: (timeoutMs) => this.metaServerAddress(timeoutMs),
    });
    return this.ns;
  }

  /** The address of the metadata server of the mediator that answers (the leader; a wildcard
   * host means that mediator's host). */
  async metaServerAddress(timeoutMs?: number): Promise<Address> {
    const where = await this.rpc.call(m.metaServer, {}, { timeoutMs });
    const host = isUnspecifiedHost(where.host) ? this.rpc.address.host : where.host;
    return { host, port: where.port };
  }

  // ---- inode operations ----

  getattr(ino: number): Promise<InodeAttr> {
    return this.ns.call(m.getattr, { ino });
  }
  lookup(parent: number, name: string): Promise<InodeAttr> {
    return this.ns.call(m.lookup, { parent, name });
  }
  /** With `session`, the inode is also held for that session (an open with O_CREAT). */
  create(parent: number, name: string, mode = 0o644, options: { exclusive?: boolean; rdev?: number; caller?: Caller; session?: string } = {}): Promise<InodeAttr> {
    const fileMode = (mode & 0o170000) === 0 ? S_IFREG | mode : mode;
    return this.ns.call(m.create, {
      parent,
      name,
      mode: fileMode,
      rdev: options.rdev,
      caller: options.caller ?? this.caller,
      exclusive: options.exclusive ?? true,
      session: options.session,
    });
  }
  mkdir(parent: number, name: string, mode = 0o755, caller?: Caller): Promise<InodeAttr> {
    return this.ns.call(m.mkdir, { parent, name, mode: S_IFDIR | (mode & 0o7777), caller: caller ?? this.caller });
  }
  symlink(parent: number, name: string, target: string, caller?: Caller): Promise<InodeAttr> {
    return this.ns.call(m.symlink, { parent, name, target, caller: caller ?? this.caller });
  }
  async readlink(ino: number): Promise<string> {
    return (await this.ns.call(m.readlink, { ino })).target;
  }
  link(ino: number, newParent: number, newName: string): Promise<InodeAttr> {
    return this.ns.call(m.link, { ino, newParent, newName });
  }
  async unlink(parent: number, name: string): Promise<void> {
    await this.ns.call(m.unlink, { parent, name });
  }
  async rmdir(parent: number, name: string): Promise<void> {
    await this.ns.call(m.rmdir, { parent, name });
  }
  async rename(oldParent: number, oldName: string, newParent: number, newName: string, flags = 0): Promise<void> {
    await this.ns.call(m.rename, { oldParent, oldName, newParent, newName, flags });
  }
  setattr(ino: number, attr: SetAttrRequest): Promise<InodeAttr> {
    return this.rpc.call(m.setattr, { ino, attr });
  }
  async readdir(ino: number, cookie = 0, limit: number = limits.maxReaddirEntries): Promise<DirEntry[]> {
    return (await this.ns.call(m.readdir, { ino, cookie, limit })).entries;
  }
  /** Every entry of a directory except '.' and '..'. */
  async readdirAll(ino: number): Promise<DirEntry[]> {
    const all: DirEntry[] = [];
    for (let cookie = 0; ; ) {
      const page = await this.readdir(ino, cookie);
      if (page.length === 0) break;
      all.push(...page.filter((e) => e.name !== '.' && e.name !== '..'));
      cookie = page[page.length - 1]!.cookie;
    }
    return all;
  }
  /** Reads up to `size` bytes at `offset` (fewer at end of file). */
  async read(ino: number, offset: number, size: number, timeoutMs?: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (let done = 0; done < size; ) {
      const want = Math.min(size - done, limits.maxPayloadBytes);
      const { payload } = await this.rpc.callWithPayload(m.read, { ino, offset: offset + done, size: want }, { timeoutMs });
      parts.push(payload);
      done += payload.length;
      if (payload.length < want) break;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }
  /** One read call (at most limits.maxPayloadBytes); says whether it marked the atime. */
  async readChunk(ino: number, offset: number, size: number): Promise<{ data: Buffer; atimeUpdated: boolean }> {
    const { result, payload } = await this.rpc.callWithPayload(m.read, { ino, offset, size: Math.min(size, limits.maxPayloadBytes) });
    return { data: payload, atimeUpdated: result.atimeUpdated === true };
  }
  /** Writes all of `data` at `offset`, in calls of at most limits.maxPayloadBytes. `time` is
   * when the application wrote (for mtime), if the write was buffered. */
  async write(ino: number, offset: number, data: Uint8Array, options: { timeoutMs?: number; time?: Timespec } = {}): Promise<InodeAttr> {
    let attr: InodeAttr | undefined;
    const step = limits.maxPayloadBytes;
    for (let done = 0; done < data.length || attr === undefined; done += step) {
      const part = data.subarray(done, Math.min(done + step, data.length));
      attr = await this.rpc.call(m.write, { ino, offset: offset + done, time: options.time }, { payload: part, timeoutMs: options.timeoutMs });
      if (data.length === 0) break;
    }
    return attr;
  }
  /** Writes extents (applied in order) as one change, in one call: their bytes must fit
   * limits.maxPayloadBytes and touch at most limits.maxBlocksPerWrite blocks. */
  writeExtents(ino: number, extents: Array<{ offset: number; data: Uint8Array }>, options: { timeoutMs?: number; time?: Timespec } = {}): Promise<InodeAttr> {
    // One extent (a sequential write) goes as it is; several are joined into one payload.
    const payload = extents.length === 1 ? extents[0]!.data : Buffer.concat(extents.map((e) => e.data));
    const list = extents.map((e) => ({ offset: e.offset, length: e.data.length }));
    return this.rpc.call(m.writev, { ino, extents: list, time: options.time }, { payload, timeoutMs: options.timeoutMs });
  }
  status(): Promise<StatusReport> {
    return this.rpc.call(m.status, {});
  }
  blockMap(ino: number) {
    return this.rpc.call(m.blockMap, { ino });
  }

  // ---- path helpers ----

  /** The attributes of the inode a '/'-separated path names, from the root. */
  async resolve(path: string): Promise<InodeAttr> {
    let attr = await this.getattr(ROOT_INO);
    for (const part of path.split('/').filter((p) => p !== '' && p !== '.')) {
      attr = await this.lookup(attr.ino, part);
    }
    return attr;
  }
  /** The parent's inode and the last name of a path. */
  async resolveParent(path: string): Promise<{ parent: number; name: string }> {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    const name = parts.pop();
    if (name === undefined) throw qfsError('INVALID', `path '${path}' has no last component`);
    return { parent: (await this.resolve(parts.join('/'))).ino, name };
  }
  /** Creates or replaces a file's contents (truncate, then write). */
  async writeFile(path: string, data: Uint8Array): Promise<InodeAttr> {
    const { parent, name } = await this.resolveParent(path);
    const attr = await this.create(parent, name, 0o644, { exclusive: false });
    if (attr.size > 0) await this.setattr(attr.ino, { size: 0 });
    return this.write(attr.ino, 0, data);
  }
  async readFile(path: string): Promise<Buffer> {
    const attr = await this.resolve(path);
    return this.read(attr.ino, 0, attr.size);
  }
}
