// When a read marks a file's atime, as Linux's default `relatime`: only if atime is not newer
// than mtime or ctime, or is a day old. So a file read over and over costs one metadata write
// per change, not one per read. Pure.

import type { InodeAttr, Timespec } from '../common/types.js';

const DAY_SEC = 24 * 3600;

function notAfter(a: Timespec, b: Timespec): boolean {
  return a.sec < b.sec || (a.sec === b.sec && a.nsec <= b.nsec);
}

export function atimeUpdateDue(attr: InodeAttr, now: Timespec): boolean {
  return notAfter(attr.atime, attr.mtime) || notAfter(attr.atime, attr.ctime) || now.sec - attr.atime.sec >= DAY_SEC;
}
