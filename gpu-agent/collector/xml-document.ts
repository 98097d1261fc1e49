import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { SmiParseError } from '../errors.ts';

/** An element as fast-xml-parser returns it with `parseTagValue: false`: text or children. */
export type XmlValue = string | XmlElement | XmlValue[];
export interface XmlElement {
  [name: string]: XmlValue;
}

/** Real `-q -x` output is tens of KiB per GPU (357 KiB for 8× B200); 16 MiB is far above it. */
export const DEFAULT_MAX_XML_BYTES = 16 * 1024 * 1024;

// Elements that repeat; everything else is read as a single element.
const ARRAY_PATHS = new Set([
  'nvidia_smi_log.gpu',
  'nvidia_smi_log.gpu.mig_devices.mig_device',
  'nvidia_smi_log.gpu.processes.process_info',
]);

const parser = new XMLParser({
  // No entity expansion at all: the predefined five are decoded by decodeEntities() on the few
  // strings that are read, so a crafted DOCTYPE cannot make the parser do work.
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  trimValues: true,
  // supported_clocks is the bulk of the document and nothing here reads it.
  stopNodes: ['nvidia_smi_log.gpu.supported_clocks'],
  isArray: (_name, jPath) => typeof jPath === 'string' && ARRAY_PATHS.has(jPath),
});

// XML 1.0 forbids C0 controls except tab/newline/return, lone surrogates and U+FFFE/FFFF.
const INVALID_XML_CHARS =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Decodes, screens and parses one `nvidia-smi -q -x` document, returning the `<nvidia_smi_log>`
 * element. Rejects oversized input before decoding, any internal DTD subset or ENTITY declaration
 * (entity-expansion attacks), malformed or truncated XML, and a wrong root element. Bytes that are
 * not UTF-8 or not allowed in XML become U+FFFD: concurrent nvidia-smi runs have emitted `\xff` in
 * `<process_name>` (cwltool#1910), and one bad name must not lose the whole snapshot.
 */
export function readSmiXmlDocument(
  input: string | Buffer,
  maxBytes = DEFAULT_MAX_XML_BYTES,
): XmlElement {
  // A string's UTF-8 size is at least its length and at most three times it: only count bytes
  // when the length alone cannot decide.
  const size =
    typeof input !== 'string'
      ? input.byteLength
      : input.length > maxBytes || input.length * 3 <= maxBytes
        ? input.length
        : Buffer.byteLength(input);
  if (size > maxBytes) {
    throw new SmiParseError(
      'nvidia_smi_log',
      `document is ${size} bytes, over the ${maxBytes}-byte limit`,
    );
  }
  const decoded = typeof input === 'string' ? input : new TextDecoder('utf-8').decode(input);
  const xml = decoded.replace(INVALID_XML_CHARS, '\uFFFD');
  if (/<!ENTITY/i.test(xml) || /<!DOCTYPE[^>[]*\[/i.test(xml)) {
    throw new SmiParseError(
      'nvidia_smi_log',
      'DOCTYPE internal subsets and ENTITY declarations are not accepted',
    );
  }
  const validation = XMLValidator.validate(xml);
  if (validation !== true) {
    const { msg, line } = validation.err;
    throw new SmiParseError('nvidia_smi_log', `malformed XML at line ${line}: ${msg}`);
  }
  const document = parser.parse(xml) as XmlElement;
  const root = document.nvidia_smi_log;
  if (root === undefined) {
    const found = Object.keys(document).find((key) => !key.startsWith('?') && !key.startsWith('!'));
    throw new SmiParseError(
      'nvidia_smi_log',
      `root element is <${found ?? 'none'}>, expected <nvidia_smi_log>`,
    );
  }
  // An empty root parses as ''.
  return typeof root === 'object' && !Array.isArray(root) ? root : {};
}

/** The first child called `name`, or undefined. */
export function child(node: XmlValue | undefined, name: string): XmlValue | undefined {
  if (node === undefined || typeof node === 'string') return undefined;
  const element = Array.isArray(node) ? node[0] : node;
  if (element === undefined || typeof element === 'string' || Array.isArray(element)) {
    return undefined;
  }
  const value = element[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Follows a slash-separated path ("gpu_power_readings/power_draw"). */
export function at(node: XmlValue | undefined, path: string): XmlValue | undefined {
  let current = node;
  for (const name of path.split('/')) {
    current = child(current, name);
    if (current === undefined) return undefined;
  }
  return current;
}

/** Every child called `name`: the repeated elements listed in ARRAY_PATHS. */
export function children(node: XmlValue | undefined, name: string): XmlElement[] {
  if (node === undefined || typeof node === 'string' || Array.isArray(node)) return [];
  const value = node[name];
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.filter(
    (item): item is XmlElement => typeof item === 'object' && !Array.isArray(item),
  );
}

const ENTITY = /&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|(amp|lt|gt|quot|apos));/gi;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(ENTITY, (whole, dec?: string, hex?: string, name?: string) => {
    if (name) return NAMED[name.toLowerCase()] ?? whole;
    const code = dec ? Number(dec) : Number.parseInt(hex ?? '', 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : '\uFFFD';
  });
}

/** The text of the element at `path` with character references decoded; undefined if missing. */
export function textAt(node: XmlValue | undefined, path: string): string | undefined {
  const value = at(node, path);
  return typeof value === 'string' ? decodeEntities(value) : undefined;
}
