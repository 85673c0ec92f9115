// Quorum arithmetic and the vote over replica replies, as pure functions. A replica's reply
// counts only if its version and checksum match the block map (the checksum is recomputed over
// the bytes received, so a lying or rotting replica cannot pass). Among the valid replies the
// largest group of equal content wins; the block map breaks ties, so one good replica anywhere
// is enough and a tie or a majority of bad replicas never yields wrong bytes.

export interface QuorumConfig {
  /** Replicas asked on a read. */
  readQuorum: number;
  /** Acknowledgements a write needs before it commits. */
  writeQuorum: number;
  /** Data servers in the cluster. */
  replicas: number;
}

/** Returns a one-line problem with the configuration, or undefined if it is valid. */
export function checkQuorumConfig(config: QuorumConfig): string | undefined {
  const { readQuorum: qr, writeQuorum: qw, replicas: n } = config;
  if (!Number.isInteger(n) || n < 1) return `need at least one data server, got ${n}`;
  if (!Number.isInteger(qr) || qr < 1 || qr > n) return `read quorum Qr must be between 1 and N=${n}, got ${qr}`;
  if (!Number.isInteger(qw) || qw < 1 || qw > n) return `write quorum Qw must be between 1 and N=${n}, got ${qw}`;
  return undefined;
}

export type ReplicaReply =
  | { server: string; kind: 'data'; version: number; checksum: string }
  | { server: string; kind: 'missing' }
  | { server: string; kind: 'corrupt' }
  | { server: string; kind: 'unreachable' };

export interface Expected {
  version: number;
  checksum: string;
}

export type ReplicaVerdict = 'good' | 'stale' | 'mismatch' | 'missing' | 'corrupt' | 'unreachable';

export function judgeReply(expected: Expected, reply: ReplicaReply): ReplicaVerdict {
  switch (reply.kind) {
    case 'data':
      if (reply.version !== expected.version) return reply.version < expected.version ? 'stale' : 'mismatch';
      return reply.checksum === expected.checksum ? 'good' : 'mismatch';
    case 'missing':
      return 'missing';
    case 'corrupt':
      return 'corrupt';
    case 'unreachable':
      return 'unreachable';
    default:
      return assertNever(reply);
  }
}

export interface VoteResult {
  /** The server whose reply is returned, or undefined if no reply was valid. */
  winner: string | undefined;
  /** Servers whose reply matched the block map. */
  good: string[];
  /** Servers that answered but hold a bad copy (to be repaired), with why. */
  bad: Array<{ server: string; verdict: Exclude<ReplicaVerdict, 'good' | 'unreachable'> }>;
  unreachable: string[];
}

/** Votes among the replies: the largest group of valid replies with equal content wins. */
export function vote(expected: Expected, replies: readonly ReplicaReply[]): VoteResult {
  const groups = new Map<string, string[]>();
  const result: VoteResult = { winner: undefined, good: [], bad: [], unreachable: [] };
  for (const reply of replies) {
    const verdict = judgeReply(expected, reply);
    if (verdict === 'good' && reply.kind === 'data') {
      result.good.push(reply.server);
      const group = groups.get(reply.checksum) ?? [];
      group.push(reply.server);
      groups.set(reply.checksum, group);
    } else if (verdict === 'unreachable') {
      result.unreachable.push(reply.server);
    } else if (verdict !== 'good') {
      result.bad.push({ server: reply.server, verdict });
    }
  }
  let best: string[] = [];
  for (const group of groups.values()) if (group.length > best.length) best = group;
  result.winner = best[0];
  return result;
}

/** The servers to ask first on a read: Qr of the candidates, chosen by the random source. */
export function pickReadSet(candidates: readonly string[], readQuorum: number, random: () => number): string[] {
  const pool = [...candidates];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, Math.min(readQuorum, pool.length));
}

/** Whether a write has reached its quorum, can still reach it, or cannot. */
export function writeOutcome(
  acks: number,
  failures: number,
  targets: number,
  writeQuorum: number,
): 'committed' | 'pending' | 'failed' {
  if (acks >= writeQuorum) return 'committed';
  if (targets - failures < writeQuorum) return 'failed';
  return 'pending';
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
