// Picks the mediator's last complaint (a warn or error line of its JSON log on stderr) out of
// what it printed since a step began, so a failed step can say what the mediator said, e.g.
// `heal failed: FRAME_TOO_LARGE …`. Pure.

const WARN_LEVEL = 40;

export function lastComplaint(logText: string): string | undefined {
  const lines = logText.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{')) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof entry['level'] !== 'number' || entry['level'] < WARN_LEVEL) continue;
    const details = ['server', 'key', 'code', 'err', 'reason']
      .filter((k) => entry[k] !== undefined)
      .map((k) => `${k}=${typeof entry[k] === 'string' ? entry[k] : JSON.stringify(entry[k])}`);
    return `${String(entry['msg'] ?? '(no message)')}${details.length ? ` (${details.join(', ')})` : ''}`;
  }
  return undefined;
}
