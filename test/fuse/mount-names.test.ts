// Names are bytes end to end (issue 12, part 5): any name Linux accepts — invalid UTF-8, control
// characters, NFC and NFD as two names, 255 high bytes — round-trips exactly through a real mount,
// the protocol and the metadata store, and a second mount of the same cluster sees the same
// bytes. Driven from python3 (bytes paths), never from the processes serving the mounts.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { python } from '../helpers/fuse-commands.js';
import { startMount, type Mount } from '../helpers/mount.js';

const hex = (...bytes: number[]): string => Buffer.from(bytes).toString('hex');
const utf8Hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');

/** Names as hex, so the test's own strings never decide what the bytes are. */
const NAMES_HEX = [
  hex(0xff, 0xfe),
  hex(0x63, 0x61, 0x66, 0xe9), // latin-1 "café"
  hex(0x61, 0x80, 0x62), // a lone continuation byte
  hex(0xc0, 0xaf), // overlong '/'
  hex(0xe0, 0x80, 0xaf), // overlong '/', three bytes
  hex(0xed, 0xa0, 0x80), // an encoded surrogate half
  hex(0xe2, 0x82), // a truncated sequence
  utf8Hex('\uFFFD'), // the replacement character, distinct from all of the above
  utf8Hex('new\nline'),
  utf8Hex('tab\there'),
  utf8Hex('back\\slash'),
  utf8Hex('caf\u00e9'), // NFC
  utf8Hex('cafe\u0301'), // NFD: another name
  utf8Hex('\u{1F600} \u65e5\u672c'),
  Buffer.alloc(255, 0xfe).toString('hex'),
];

/** Runs the scenario on mount A and checks it through mount B; prints OK or fails with why. */
const SCENARIO = String.raw`
import errno, json, os, sys, time
A, B = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
names = [bytes.fromhex(h) for h in json.loads(sys.argv[3])]
j = os.path.join
def check(cond, what):
    if not cond:
        raise AssertionError(what)
def eventually(probe, what):
    # Mount B learns of A's changes by the mediator's invalidation events, which arrive
    # asynchronously: its cached entries may lag for a moment.
    deadline = time.monotonic() + 5
    while True:
        try:
            if probe():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.05)
d, d2 = j(A, b'n'), j(B, b'n')
os.mkdir(d)
for i, n in enumerate(names):
    fd = os.open(j(d, n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, b'content %d' % i)
    os.close(fd)
ino = {n: os.stat(j(d, n)).st_ino for n in names}
check(len(set(ino.values())) == len(names), 'distinct names must be distinct files: %r' % sorted(ino.values()))
check(sorted(os.listdir(d)) == sorted(names), 'readdir: %r' % sorted(os.listdir(d)))
for e in os.scandir(d):
    check(e.name in ino and e.inode() == ino[e.name] and e.is_file(), 'scandir entry %r' % e.name)
for i, n in enumerate(names):
    with open(j(d, n), 'rb') as f:
        check(f.read() == b'content %d' % i, 'content of %r' % n)
# The other mount sees the same bytes, the same inodes, the same contents.
check(sorted(os.listdir(d2)) == sorted(names), 'mount B readdir: %r' % sorted(os.listdir(d2)))
for i, n in enumerate(names):
    check(os.stat(j(d2, n)).st_ino == ino[n], 'mount B stat %r' % n)
    with open(j(d2, n), 'rb') as f:
        check(f.read() == b'content %d' % i, 'mount B content of %r' % n)

# rename between two such names, then over an existing one
src, dst = names[0], b'\xfe\xff\nrenamed'
os.rename(j(d, src), j(d, dst))
check(not os.path.lexists(j(d, src)) and os.stat(j(d, dst)).st_ino == ino[src], 'rename')
os.rename(j(d, dst), j(d, names[1]))
check(os.stat(j(d, names[1])).st_ino == ino[src], 'rename over an existing name')
eventually(lambda: os.stat(j(d2, names[1])).st_ino == ino[src], 'mount B sees the rename')
eventually(lambda: not os.path.lexists(j(d2, dst)), 'mount B: the old name is gone')

# hard link and unlink
os.link(j(d, names[2]), j(d, b'\xe9link'))
check(os.stat(j(d, names[2])).st_nlink == 2, 'link count after link')
os.unlink(j(d, names[2]))
check(os.stat(j(d, b'\xe9link')).st_ino == ino[names[2]] and os.stat(j(d, b'\xe9link')).st_nlink == 1, 'unlink keeps the other name')
eventually(lambda: not os.path.lexists(j(d2, names[2])), 'mount B: the unlinked name is gone')

# mkdir, rmdir, a symlink whose name and target are not UTF-8
sub = j(d, b'dir\xff\x80')
os.mkdir(sub)
open(j(sub, b'\xc3'), 'wb').close()
try:
    os.rmdir(sub)
    check(False, 'rmdir of a non-empty directory')
except OSError as e:
    check(e.errno == errno.ENOTEMPTY, 'rmdir errno %d' % e.errno)
eventually(lambda: os.listdir(j(d2, b'dir\xff\x80')) == [b'\xc3'], 'mount B lists the subdirectory')
os.unlink(j(sub, b'\xc3'))
os.rmdir(sub)
check(not os.path.lexists(sub), 'rmdir')
os.symlink(b'../\xff\xfe/caf\xe9', j(d, b'sym\xe9'))
check(os.readlink(j(d, b'sym\xe9')) == b'../\xff\xfe/caf\xe9', 'readlink: %r' % os.readlink(j(d, b'sym\xe9')))
eventually(lambda: os.readlink(j(d2, b'sym\xe9')) == b'../\xff\xfe/caf\xe9', 'mount B readlink')
check(os.lstat(j(d, b'sym\xe9')).st_size == 10, 'symlink size counts bytes')

# an xattr name that is not UTF-8
x = j(d, names[3])
os.setxattr(x, b'user.\xff\xfe', b'v')
eventually(lambda: os.getxattr(j(d2, names[3]), b'user.\xff\xfe') == b'v', 'mount B getxattr')
check([os.fsencode(n) for n in os.listxattr(x)] == [b'user.\xff\xfe'], 'listxattr: %r' % os.listxattr(x))

# NAME_MAX counts bytes: 256 are refused (255 were created above)
try:
    os.open(j(d, b'\xfe' * 256), os.O_CREAT | os.O_WRONLY, 0o644)
    check(False, 'a 256-byte name was accepted')
except OSError as e:
    check(e.errno == errno.ENAMETOOLONG, 'errno for 256 bytes: %d' % e.errno)
try:
    os.mkdir(j(d, b'\xfe' * 256))
    check(False, 'a 256-byte directory name was accepted')
except OSError as e:
    check(e.errno == errno.ENAMETOOLONG, 'mkdir errno for 256 bytes: %d' % e.errno)
print('OK')
`;

describe('names as bytes through real mounts (N=3)', { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let mountA: Mount;
  let mountB: Mount;
  before(async () => {
    cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3 });
    // Long caching: what mount B sees of A's changes must come from invalidation, names and all.
    mountA = await startMount(cluster.mediatorPort, { attrTimeoutSec: 60 });
    mountB = await startMount(cluster.mediatorPort, { attrTimeoutSec: 60 });
  });
  after(async () => {
    await mountB?.stop();
    await mountA?.stop();
    await cluster?.stop();
  });

  it('creates, lists, renames, links and unlinks any name Linux accepts, seen alike by a second mount', async () => {
    const r = await python(SCENARIO, [mountA.dir, mountB.dir, JSON.stringify(NAMES_HEX)], { timeoutMs: 60_000 });
    assert.equal(r.stdout.trim(), 'OK', `${r.stderr}\nmount A: ${mountA.stderr()}\nmount B: ${mountB.stderr()}`);
    assert.equal(r.code, 0);
  });
});
