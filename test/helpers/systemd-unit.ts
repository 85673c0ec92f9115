// Reads the systemd units in deploy/systemd/ as systemd does, for the tests that check them:
// unit files (sections, repeated keys, continuation lines), EnvironmentFiles (quotes, comments),
// specifiers (%i %I %f %S %%) and Exec lines (systemd's quoting; `${NAME}` is one word, `$NAME`
// alone is split at whitespace into zero or more words). Only what our units use is supported.

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** deploy/systemd/ of this repository (the tests run from dist/test/…). */
export const UNITS_DIR = fileURLToPath(new URL('../../../deploy/systemd/', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface UnitFile {
  name: string;
  /** section → key → every value given, in order */
  sections: Map<string, Map<string, string[]>>;
}

export function parseUnit(name: string, text: string): UnitFile {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 1 || !current) throw new Error(`${name}:${i + 1}: not a key=value line in a section: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return { name, sections };
}

export function unitValues(unit: UnitFile, section: string, key: string): string[] {
  return unit.sections.get(section)?.get(key) ?? [];
}

export async function readUnits(): Promise<UnitFile[]> {
  const names = (await readdir(UNITS_DIR)).filter((n) => n.endsWith('.service')).sort();
  return Promise.all(names.map(async (n) => parseUnit(n, await readFile(path.join(UNITS_DIR, n), 'utf8'))));
}

/** An EnvironmentFile: NAME=value lines; a value may be in single or double quotes. */
export function parseEnvironmentFile(name: string, text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`${name}:${i + 1}: not NAME=value: ${line}`);
    const value = m[2]!.trim();
    const quoted = /^(["'])(.*)\1$/.exec(value);
    env.set(m[1]!, quoted ? quoted[2]! : value);
  }
  return env;
}

/** Specifiers a unit may use, for one instance. */
export interface Specifiers {
  instance?: string;
  /** %S: /var/lib for system units */
  stateRoot: string;
}

export function expandSpecifiers(text: string, s: Specifiers): string {
  return text.replace(/%(.)/g, (all, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'S':
        return s.stateRoot;
      case 'i':
      case 'I':
      case 'f': {
        if (s.instance === undefined) throw new Error(`${all} in a unit that is not a template`);
        const unescaped = s.instance.replace(/-/g, '/').replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
        return c === 'i' ? s.instance : c === 'I' ? unescaped : `/${unescaped.replace(/^\//, '')}`;
      }
      default:
        throw new Error(`specifier ${all} is not supported by this reader`);
    }
  });
}

export interface ExecLine {
  /** The prefixes systemd allows before the path: '-' ignores failure, etc. */
  prefixes: string;
  argv: string[];
  /** Every variable the line names. */
  variables: string[];
}

/** Splits an Exec line (specifiers already expanded) into words as systemd does, then
 * substitutes the environment. */
export function parseExecLine(text: string, env: ReadonlyMap<string, string>): ExecLine {
  const prefixes = /^[-@:+!]*/.exec(text)![0];
  const words = splitWords(text.slice(prefixes.length));
  const variables: string[] = [];
  const argv: string[] = [];
  for (const word of words) {
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(word);
    if (whole) {
      variables.push(whole[1]!);
      argv.push(...(env.get(whole[1]!) ?? '').split(/\s+/).filter((w) => w !== ''));
      continue;
    }
    argv.push(
      word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
        variables.push(name);
        return env.get(name) ?? '';
      }),
    );
  }
  return { prefixes, argv, variables };
}

function splitWords(text: string): string[] {
  const words: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+))/gy;
  for (let m = re.exec(text); m !== null && m[0] !== ''; m = re.exec(text)) {
    words.push(m[1] ?? m[2] ?? m[3]!);
  }
  return words;
}

/** The environment a unit's Exec lines see: its required EnvironmentFiles (read from the
 * examples beside the unit, by file name), then its Environment= lines. */
export async function unitEnvironment(unit: UnitFile, s: Specifiers): Promise<{ env: Map<string, string>; files: string[] }> {
  const env = new Map<string, string>();
  const files: string[] = [];
  for (const entry of unitValues(unit, 'Service', 'EnvironmentFile')) {
    if (entry.startsWith('-')) continue; // optional: a per-instance override, absent by default
    const file = path.basename(expandSpecifiers(entry, s));
    files.push(entry);
    for (const [k, v] of parseEnvironmentFile(file, await readFile(path.join(UNITS_DIR, file), 'utf8'))) env.set(k, v);
  }
  for (const entry of unitValues(unit, 'Service', 'Environment')) {
    for (const assignment of splitWords(expandSpecifiers(entry, s))) {
      const eq = assignment.indexOf('=');
      env.set(assignment.slice(0, eq), assignment.slice(eq + 1));
    }
  }
  return { env, files };
}

/** "30", "30s", "1min", "1min 30s" → milliseconds. */
export function timespanMs(text: string): number {
  const units: Record<string, number> = { '': 1000, s: 1000, sec: 1000, ms: 1, min: 60_000, m: 60_000 };
  let total = 0;
  for (const part of text.trim().split(/\s+/)) {
    const m = /^(\d+)([a-z]*)$/.exec(part);
    if (!m || units[m[2]!] === undefined) throw new Error(`not a time span: ${text}`);
    total += Number(m[1]) * units[m[2]!]!;
  }
  return total;
}
