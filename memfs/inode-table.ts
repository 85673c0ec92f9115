// InodeTable: the inodes of the in-memory file system and their lifetime. An inode lives while
// it has a name (nlink > 0), the kernel holds a lookup reference (nlookup > 0) or a file handle
// is open on it; the root never goes. Also accounts data space against the capacity limit and
// the inode count against maxInodes (ENOSPC past either).

import { nameByteLength } from '../src/common/name-bytes.js';
import { fuseError } from '../src/fuse/fuse-error.js';
import type { Attr, Timespec } from '../src/fuse/fuse-operations.js';
import { FileData } from './file-data.js';
import { LockTable } from './lock-table.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './permissions.js';

export const ROOT_INO = 1;
const DIR_SIZE_BYTES = 4096;
const BLOCK_SIZE_BYTES = 4096;
const SECTOR_BYTES = 512;

export interface Inode {
  readonly ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  /** Regular files only. */
  data?: FileData;
  /** Directories only: name → inode number, in creation order. */
  entries?: Map<string, number>;
  /** Directories only: the parent directory (the root is its own parent). */
  parent: number;
  /** Symlinks only. */
  target?: string;
  xattrs?: Map<string, Buffer>;
  locks?: LockTable;
  /** References the kernel holds (lookup count) and file handles open on the inode. */
  nlookup: number;
  openCount: number;
}

interface NewInode {
  mode: number;
  uid: number;
  gid: number;
  rdev?: number;
  parent?: number;
  target?: string;
  now: Timespec;
}

export class InodeTable {
  private readonly inodes = new Map<number, Inode>();
  private nextIno = ROOT_INO;
  private usedBytes = 0;

  constructor(
    readonly capacityBytes: number,
    readonly maxInodes: number,
  ) {}

  get inodeCount(): number {
    return this.inodes.size;
  }

  get usedDataBytes(): number {
    return this.usedBytes;
  }

  /** The inode, or ENOENT (the kernel asked about one that is gone). */
  get(ino: number): Inode {
    const inode = this.inodes.get(ino);
    if (!inode) throw fuseError('ENOENT');
    return inode;
  }

  find(ino: number): Inode | undefined {
    return this.inodes.get(ino);
  }

  create(spec: NewInode): Inode {
    if (this.inodes.size >= this.maxInodes) throw fuseError('ENOSPC');
    const ino = this.nextIno++;
    const type = spec.mode & S_IFMT;
    const inode: Inode = {
      ino,
      mode: spec.mode,
      uid: spec.uid,
      gid: spec.gid,
      nlink: type === S_IFDIR ? 2 : 1,
      rdev: spec.rdev ?? 0,
      atime: spec.now,
      mtime: spec.now,
      ctime: spec.now,
      parent: spec.parent ?? ino,
      nlookup: 0,
      openCount: 0,
    };
    if (type === S_IFDIR) inode.entries = new Map();
    if (type === S_IFREG) inode.data = new FileData();
    if (type === S_IFLNK) inode.target = spec.target ?? '';
    this.inodes.set(ino, inode);
    return inode;
  }

  /** Frees the inode if nothing refers to it any more. */
  maybeFree(inode: Inode): void {
    if (inode.ino === ROOT_INO) return;
    if (inode.nlink > 0 || inode.nlookup > 0 || inode.openCount > 0) return;
    if (!this.inodes.delete(inode.ino)) return;
    if (inode.data) this.usedBytes -= inode.data.allocatedBytes;
  }

  /** Runs a data change on a regular file, keeping space accounting right; ENOSPC if over. */
  changeData(inode: Inode, growthBytes: number, change: (data: FileData) => void): void {
    const data = inode.data;
    if (!data) throw fuseError('EINVAL');
    if (growthBytes > 0 && this.usedBytes + growthBytes > this.capacityBytes) throw fuseError('ENOSPC');
    const before = data.allocatedBytes;
    change(data);
    this.usedBytes += data.allocatedBytes - before;
  }

  attrOf(inode: Inode): Attr {
    let sizeBytes = 0;
    let allocated = 0;
    if (inode.data) {
      sizeBytes = inode.data.sizeBytes;
      allocated = inode.data.allocatedBytes;
    } else if (inode.entries) {
      sizeBytes = DIR_SIZE_BYTES;
    } else if (inode.target !== undefined) {
      sizeBytes = nameByteLength(inode.target);
    }
    return {
      ino: inode.ino,
      mode: inode.mode,
      nlink: inode.nlink,
      uid: inode.uid,
      gid: inode.gid,
      rdev: inode.rdev,
      sizeBytes,
      blksizeBytes: BLOCK_SIZE_BYTES,
      blocks: Math.ceil(allocated / SECTOR_BYTES),
      atime: inode.atime,
      mtime: inode.mtime,
      ctime: inode.ctime,
    };
  }
}
