// Link counts across link, unlink, rename (replacing, exchanging, across directories), mkdir and
// rmdir, seen through every name of an inode: once with attribute caching off and once with
// long caching, where memfs must invalidate what the kernel cannot know on its own.

import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { RENAME_EXCHANGE, renameat2 } from '../helpers/fuse-commands.js';
import { startMemfs, type MemfsProcess } from '../helpers/fuse-memfs-process.js';

async function nlink(path: string): Promise<number> {
  return (await fs.stat(path)).nlink;
}

function linkCountSuite(title: string, args: string[]): void {
  describe(title, () => {
    let memfs: MemfsProcess;
    let root = '';
    const p = (...parts: string[]): string => join(root, ...parts);

    before(async () => {
      memfs = await startMemfs({ args });
      root = memfs.mountpoint;
    });
    after(async () => {
      await memfs.stop();
    });

    it('files: link, unlink, rename over a linked name', async () => {
      await fs.writeFile(p('a'), 'A');
      assert.equal(await nlink(p('a')), 1);
      await fs.link(p('a'), p('a2'));
      await fs.link(p('a'), p('a3'));
      assert.equal(await nlink(p('a')), 3);
      assert.equal(await nlink(p('a3')), 3);
      await fs.unlink(p('a2'));
      assert.equal(await nlink(p('a')), 2);
      assert.equal(await nlink(p('a3')), 2);
      // Replacing one name by rename drops a link of the replaced inode, seen via its other name.
      await fs.writeFile(p('b'), 'B');
      await fs.rename(p('b'), p('a3'));
      assert.equal(await nlink(p('a')), 1);
      assert.equal(await fs.readFile(p('a3'), 'utf8'), 'B');
      assert.equal(await nlink(p('a3')), 1);
      // A renamed inode keeps its count; unlinking the last name of an open file keeps data.
      await fs.link(p('a'), p('sub-link'));
      await fs.rename(p('sub-link'), p('renamed'));
      assert.equal(await nlink(p('a')), 2);
      const fh = await fs.open(p('a'), 'r');
      await fs.unlink(p('a'));
      await fs.unlink(p('renamed'));
      assert.equal((await fh.stat()).nlink, 0);
      assert.equal((await fh.readFile()).toString(), 'A');
      await fh.close();
    });

    it('directories: mkdir, rmdir and moves adjust the parents', async () => {
      await fs.mkdir(p('top'));
      assert.equal(await nlink(p('top')), 2);
      await fs.mkdir(p('top', 'c1'));
      await fs.mkdir(p('top', 'c2'));
      assert.equal(await nlink(p('top')), 4);
      await fs.mkdir(p('other'));
      await fs.rename(p('top', 'c1'), p('other', 'c1'));
      assert.equal(await nlink(p('top')), 3);
      assert.equal(await nlink(p('other')), 3);
      // A directory moved over an empty directory elsewhere.
      await fs.mkdir(p('top', 'empty'));
      assert.equal(await nlink(p('top')), 4);
      await fs.rename(p('other', 'c1'), p('top', 'empty'));
      assert.equal(await nlink(p('top')), 4);
      assert.equal(await nlink(p('other')), 2);
      await fs.rmdir(p('top', 'c2'));
      assert.equal(await nlink(p('top')), 3);
    });

    it('RENAME_EXCHANGE of a directory and a file across parents', async () => {
      await fs.mkdir(p('x'));
      await fs.mkdir(p('y'));
      await fs.mkdir(p('x', 'dir'));
      await fs.writeFile(p('y', 'file'), '');
      await fs.link(p('y', 'file'), p('file-link'));
      assert.equal(await nlink(p('x')), 3);
      assert.equal(await nlink(p('y')), 2);
      assert.equal(await renameat2(p('x', 'dir'), p('y', 'file'), RENAME_EXCHANGE), 'OK');
      assert.equal(await nlink(p('x')), 2);
      assert.equal(await nlink(p('y')), 3);
      assert.equal(await nlink(p('x', 'dir')), 2, 'the file now named x/dir keeps two links');
      assert.equal(await nlink(p('file-link')), 2);
      assert.ok((await fs.stat(p('y', 'file'))).isDirectory());
    });
  });
}

linkCountSuite('link counts without attribute caching', ['--attr-timeout', '0']);
linkCountSuite('link counts with attribute caching', ['--attr-timeout', '30']);
