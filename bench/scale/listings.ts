// Parses what the scale benchmark lists: `quorumfs list-contents --json` (a JSON array of
// blocks today; also accepted, should it become streamed: an object with `entries`, or one JSON
// value per line) and `ls -f` (one name per line, with . and ..). Pure; throws one line on
// output it cannot read.

interface Listing {
  /** objects in the listing */
  entries: number;
  /** distinct block keys */
  keys: Set<string>;
}

function keyOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const key = (value as Record<string, unknown>)['key'];
  return typeof key === 'string' ? key : undefined;
}

function addAll(listing: Listing, values: unknown[]): void {
  for (const v of values) {
    const key = keyOf(v);
    if (key === undefined) throw new Error(`list-contents --json: an entry without a key: ${JSON.stringify(v).slice(0, 120)}`);
    listing.entries++;
    listing.keys.add(key);
  }
}

function valuesOf(parsed: unknown): unknown[] | undefined {
  if (Array.isArray(parsed)) return parsed;
  if (typeof parsed === 'object' && parsed !== null) {
    const entries = (parsed as Record<string, unknown>)['entries'];
    if (Array.isArray(entries)) return entries;
    if (keyOf(parsed) !== undefined) return [parsed];
  }
  return undefined;
}

export function parseListContents(stdout: Buffer): Listing {
  const listing: Listing = { entries: 0, keys: new Set() };
  const textOut = stdout.toString('utf8').trim();
  if (textOut === '') throw new Error('list-contents --json printed nothing');
  try {
    const values = valuesOf(JSON.parse(textOut));
    if (!values) throw new Error('list-contents --json: neither an array nor an object with entries');
    addAll(listing, values);
    return listing;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  // Not one JSON document: one JSON value per line.
  for (const [n, line] of textOut.split('\n').entries()) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`list-contents --json: line ${n + 1} is not JSON: ${line.slice(0, 120)}`);
    }
    const values = valuesOf(parsed);
    if (values) addAll(listing, values);
  }
  return listing;
}

/** Names `ls -f` printed, without . and .. (names in the bench have no newlines). */
export function countLsEntries(stdout: Buffer): number {
  let count = 0;
  for (const line of stdout.toString('utf8').split('\n')) if (line !== '' && line !== '.' && line !== '..') count++;
  return count;
}
