// What the mount knows about extended attributes an inode does NOT have, for as long as the
// kernel may cache attributes. The kernel asks for `security.capability` before every write (to
// strip a capability on write), which would cost a round trip to the metadata server per write;
// a file this mount just created has no attributes at all, and a name found missing stays
// missing until this mount sets it or the mediator reports a change to the inode. The mount
// consults it for security.capability only (see quorumfs-fs.ts).

import { limits } from '../common/limits.js';

interface Absence {
  /** undefined: the inode has no extended attributes at all. */
  names: Set<string> | undefined;
  untilMs: number;
}

export class XattrAbsence {
  private readonly inodes = new Map<number, Absence>();

  constructor(
    private readonly ttlMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** The inode was just created, so it has no extended attributes. */
  none(ino: number): void {
    this.set(ino, undefined);
  }

  /** `name` was found missing on the inode. */
  missing(ino: number, name: string): void {
    const known = this.current(ino);
    if (known && known.names === undefined) return;
    const names = known?.names ?? new Set<string>();
    names.add(name);
    this.set(ino, names);
  }

  isMissing(ino: number, name: string): boolean {
    const known = this.current(ino);
    return known !== undefined && (known.names === undefined || known.names.has(name));
  }

  /** The inode's attributes changed (here or elsewhere): forget what was known. */
  forget(ino: number): void {
    this.inodes.delete(ino);
  }

  private set(ino: number, names: Set<string> | undefined): void {
    if (this.ttlMs <= 0) return;
    this.inodes.set(ino, { names, untilMs: this.nowMs() + this.ttlMs });
    if (this.inodes.size > limits.maxXattrAbsenceInodes) this.expire();
  }

  private current(ino: number): Absence | undefined {
    const known = this.inodes.get(ino);
    if (known && known.untilMs <= this.nowMs()) {
      this.inodes.delete(ino);
      return undefined;
    }
    return known;
  }

  private expire(): void {
    const now = this.nowMs();
    for (const [ino, known] of this.inodes) if (known.untilMs <= now) this.inodes.delete(ino);
    // Still over: drop the oldest (Map iteration is insertion order).
    for (const ino of this.inodes.keys()) {
      if (this.inodes.size <= limits.maxXattrAbsenceInodes) break;
      this.inodes.delete(ino);
    }
  }
}
