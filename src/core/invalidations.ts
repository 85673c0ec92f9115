// Which cached attributes and directory entries a successful call makes stale, for the mediator
// to tell the other mounts (a pure function of the call and its result). Inodes: attributes and
// data; entries: a name in a directory, including negative ("no such name") entries.

import type { OrphanBlock } from '../common/types.js';

interface Invalidation {
  inodes: number[];
  entries: Array<{ parent: number; name: string }>;
}

type Args = Record<string, unknown>;

const num = (v: unknown): number[] => (typeof v === 'number' ? [v] : []);

export function invalidationsFor(method: string, args: Args, result: unknown): Invalidation | undefined {
  const resultIno = num((result as { ino?: unknown } | undefined)?.ino);
  const removedIno = num((result as { attr?: { ino?: unknown } } | undefined)?.attr?.ino);
  const entry = (parent: unknown, name: unknown): Array<{ parent: number; name: string }> =>
    typeof parent === 'number' && typeof name === 'string' ? [{ parent, name }] : [];
  switch (method) {
    case 'create':
    case 'mkdir':
    case 'symlink':
      return { inodes: [...num(args['parent']), ...resultIno], entries: entry(args['parent'], args['name']) };
    case 'unlink':
    case 'rmdir':
      return { inodes: [...num(args['parent']), ...removedIno], entries: entry(args['parent'], args['name']) };
    case 'link':
      return { inodes: [...num(args['ino']), ...num(args['newParent'])], entries: entry(args['newParent'], args['newName']) };
    case 'rename': {
      const replaced = num((result as { replaced?: { attr?: { ino?: unknown } } } | undefined)?.replaced?.attr?.ino);
      return {
        inodes: [...num(args['oldParent']), ...num(args['newParent']), ...replaced],
        entries: [...entry(args['oldParent'], args['oldName']), ...entry(args['newParent'], args['newName'])],
      };
    }
    case 'markAccess':
      return (result as { marked?: unknown } | undefined)?.marked === true ? { inodes: num(args['ino']), entries: [] } : undefined;
    case 'write':
    case 'commitBlocks':
    case 'setattr':
    case 'setxattr':
    case 'removexattr':
      return { inodes: num(args['ino']), entries: [] };
    default:
      return undefined;
  }
}

/** The block versions a metadata call's result says it freed (unlink, rename over a file, a
 * truncate, a commit, a released hold). */
export function orphansIn(result: unknown): OrphanBlock[] {
  if (typeof result !== 'object' || result === null) return [];
  const r = result as { orphans?: OrphanBlock[]; replaced?: { orphans?: OrphanBlock[] } };
  return r.orphans ?? r.replaced?.orphans ?? [];
}

/** The result with the freed block versions left out (an empty list in their place). */
export function withoutOrphans<R>(result: R): R {
  if (typeof result !== 'object' || result === null) return result;
  const r = result as { orphans?: OrphanBlock[]; replaced?: { orphans?: OrphanBlock[] } };
  if (r.orphans !== undefined) return { ...result, orphans: [] };
  if (r.replaced?.orphans !== undefined) return { ...result, replaced: { ...r.replaced, orphans: [] } };
  return result;
}
