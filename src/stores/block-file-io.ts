// The file calls a block store makes on file descriptors, with one contract and two ways to run
// them: threadPoolIo runs each call on libuv's thread pool, inlineIo on the calling thread. A
// thread-pool round trip costs about 100 µs on our VMs, more than opening, writing, renaming or
// closing a small file, so blocks up to limits.inlineBlockIoMaxBytes may take inlineIo
// (fileIoFor; BlockStore.ioFor does only when no other call is in flight); larger ones stay off
// the event loop. Either way errors are Node's, with the same errno codes.

import * as fs from 'node:fs';

import { limits } from '../common/limits.js';

export interface FileIo {
  /** A new file descriptor the caller must close. */
  open(filePath: string, flags: string, mode?: number): Promise<number>;
  sizeOf(fd: number): Promise<number>;
  /** Reads into `buf` (caller's) at `offset`; resolves to the bytes read, 0 at the end. */
  read(fd: number, buf: Uint8Array, offset: number, lengthBytes: number, position: number): Promise<number>;
  /** Writes from `chunks` (only read); resolves to the bytes written, possibly fewer than all. */
  writev(fd: number, chunks: Uint8Array[], position: number): Promise<number>;
  datasync(fd: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(fromPath: string, toPath: string): Promise<void>;
}

/** Settles a promise from a Node callback: the error, or the callback's value. */
function settle<T>(call: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    call((err, value) => (err ? reject(err) : resolve(value)));
  });
}

export const threadPoolIo: FileIo = {
  open: (filePath, flags, mode) => settle((done) => fs.open(filePath, flags, mode, done)),
  sizeOf: (fd) => settle<fs.Stats>((done) => fs.fstat(fd, done)).then((stats) => stats.size),
  read: (fd, buf, offset, lengthBytes, position) => settle((done) => fs.read(fd, buf, offset, lengthBytes, position, done)),
  writev: (fd, chunks, position) => settle((done) => fs.writev(fd, chunks, position, done)),
  datasync: (fd) => settle<void>((done) => fs.fdatasync(fd, (err) => done(err, undefined))),
  close: (fd) => settle<void>((done) => fs.close(fd, (err) => done(err, undefined))),
  rename: (fromPath, toPath) => settle<void>((done) => fs.rename(fromPath, toPath, (err) => done(err, undefined))),
};

/** Async only in signature: each call is done when it returns, a failure is a rejection.
 * Only the calls that cost less than a round trip to the thread pool. */
export const inlineIo: FileIo = {
  open: async (filePath, flags, mode) => fs.openSync(filePath, flags, mode),
  sizeOf: async (fd) => fs.fstatSync(fd).size,
  read: async (fd, buf, offset, lengthBytes, position) => fs.readSync(fd, buf, offset, lengthBytes, position),
  writev: async (fd, chunks, position) => fs.writevSync(fd, chunks, position),
  // Not inline: an fdatasync waits for the disk, and on the event loop it would serialize
  // concurrent puts (8 in flight, 4 KiB: 1,036 puts/s inline against 1,727 on the thread pool).
  datasync: (fd) => threadPoolIo.datasync(fd),
  close: async (fd) => fs.closeSync(fd),
  rename: async (fromPath, toPath) => fs.renameSync(fromPath, toPath),
};

/** The way to run the calls on a block of `dataBytes`. */
export function fileIoFor(dataBytes: number): FileIo {
  return dataBytes <= limits.inlineBlockIoMaxBytes ? inlineIo : threadPoolIo;
}
