/** pytest's JUnit XML report, read with an XML parser. */
import { createRequire } from 'node:module';
import type { XMLParser } from 'fast-xml-parser';

export interface SuiteFailure {
  test: string;
  message: string;
}

/** The counts and the failing and skipped tests of one report. */
export interface JunitSummary {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  failures: SuiteFailure[];
  skips: SuiteFailure[];
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** The five XML entities and numeric character references, in one pass (so "&amp;lt;" stays "&lt;"). */
export function decodeXmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return XML_ENTITIES[ref] ?? whole;
  });
}

interface XmlElement {
  [key: string]: unknown;
}

const REPEATED = new Set(['testsuite', 'testcase', 'failure', 'error', 'skipped']);

let parser: XMLParser | undefined;
/** Loaded on first use: the parser costs ~0.1 s of start-up that only verify needs. */
function xmlParser(): XMLParser {
  if (parser) return parser;
  const { XMLParser: Parser } = createRequire(import.meta.url)('fast-xml-parser') as typeof import('fast-xml-parser');
  // The parser leaves entities alone: its own decoding skips numeric references, which pytest writes for newlines.
  parser = new Parser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    parseAttributeValue: false,
    parseTagValue: false,
    processEntities: false,
    isArray: (name) => REPEATED.has(name),
  });
  return parser;
}

/** Every <testcase> below `node`, in document order within each level. */
function testcases(node: unknown, out: XmlElement[] = []): XmlElement[] {
  if (Array.isArray(node)) {
    for (const n of node) testcases(n, out);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node as XmlElement)) {
      if (key === 'testcase') out.push(...(value as XmlElement[]).map((v) => (typeof v === 'object' && v ? v : {})));
      else if (!key.startsWith('@') && key !== '#text') testcases(value, out);
    }
  }
  return out;
}

function attr(el: XmlElement | undefined, name: string): string | undefined {
  const v = el?.[`@${name}`];
  return typeof v === 'string' ? decodeXmlEntities(v) : undefined;
}

/** The first <failure>, <error> or <skipped> child, and its tag. */
function child(tc: XmlElement, tags: readonly string[]): { tag: string; el: XmlElement } | null {
  for (const tag of tags) {
    const list = tc[tag] as unknown[] | undefined;
    if (list?.length) return { tag, el: typeof list[0] === 'object' && list[0] ? (list[0] as XmlElement) : {} };
  }
  return null;
}

/** pytest's JUnit XML -> counts and the failing/skipped tests with their messages. */
export function parseJunit(xml: string): JunitSummary {
  let doc: unknown;
  try {
    doc = xmlParser().parse(xml);
  } catch (err) {
    const failures = [{ test: 'pytest', message: `cannot read its JUnit XML report: ${(err as Error).message.split('\n')[0]}` }];
    return { total: 0, passed: 0, failed: 1, skipped: 0, failures, skips: [] };
  }
  const failures: SuiteFailure[] = [];
  const skips: SuiteFailure[] = [];
  const cases = testcases(doc);
  for (const tc of cases) {
    const test = `${attr(tc, 'classname') ?? ''}::${attr(tc, 'name') ?? ''}`;
    const bad = child(tc, ['failure', 'error']);
    const skip = child(tc, ['skipped']);
    if (bad) failures.push({ test, message: attr(bad.el, 'message') ?? bad.tag });
    else if (skip) skips.push({ test, message: attr(skip.el, 'message') ?? '' });
  }
  return { total: cases.length, passed: cases.length - failures.length - skips.length, failed: failures.length, skipped: skips.length, failures, skips };
}
