/**
 * Reading the JSON files the tool relies on, through schemas: a file that is
 * not JSON, lacks a field, or was written by another format version
 * (schemaVersion) is refused with one sentence naming the file and the field,
 * instead of failing later on an undefined.
 */
import fs from 'node:fs';
import { z } from 'zod';
import { MlmdError } from './errors.js';

/** The format version of the files this tool writes and reads back. */
export const SCHEMA_VERSION = 1;

/** An object with `schemaVersion: 1` and these fields (others are kept, for forward compatibility). */
export const versioned = <S extends z.ZodRawShape>(shape: S) => z.looseObject({ schemaVersion: z.literal(SCHEMA_VERSION), ...shape });

/** The first problem of a failed parse, as "field: what is wrong". */
export function describeIssue(error: z.ZodError, data: unknown): string {
  const issue = error.issues[0]!;
  const where = issue.path.length ? issue.path.join('.') : '(the whole file)';
  if (issue.path.length === 1 && issue.path[0] === 'schemaVersion') {
    const found = (data as { schemaVersion?: unknown }).schemaVersion;
    return `schemaVersion: it is ${found === undefined ? 'missing' : `format version ${JSON.stringify(found)}`}, this mlmd-remote reads version ${SCHEMA_VERSION}`;
  }
  return `${where}: ${issue.message}`;
}

/**
 * Parses JSON text against a schema without throwing: the data, or the
 * problem in the words parseJson uses (for callers that fall back on it).
 */
export function checkJson<T>(text: string, schema: z.ZodType<T>, what: string): { ok: true; data: T } | { ok: false; problem: string } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `${what} is not JSON: ${(err as Error).message}` };
  }
  const parsed = schema.safeParse(data);
  return parsed.success ? { ok: true, data: parsed.data } : { ok: false, problem: `${what} is not valid: ${describeIssue(parsed.error, data)}` };
}

/** Parses JSON text against a schema; `what` names it in the error (e.g. "the rebase state .../state.json"). */
export function parseJson<T>(text: string, schema: z.ZodType<T>, what: string, make: (message: string) => MlmdError): T {
  const checked = checkJson(text, schema, what);
  if (!checked.ok) throw make(checked.problem);
  return checked.data;
}

/** Reads and validates a JSON file; a missing or unreadable file is an error too. */
export function readJsonFile<T>(file: string, schema: z.ZodType<T>, what: string, make: (message: string) => MlmdError): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw make(`cannot read ${what}: ${(err as Error).message}`);
  }
  return parseJson(text, schema, what, make);
}

/**
 * A JSON file that may be missing or damaged without harm (a cache, a file
 * another process may be writing): its data when it fits the schema, else
 * undefined.
 */
export function readJsonFileIfValid<T>(file: string, schema: z.ZodType<T>): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const checked = checkJson(text, schema, file);
  return checked.ok ? checked.data : undefined;
}
