/**
 * What a plain value costs on V8's heap, so a byte budget can be kept without a heap snapshot per
 * write. The figures are V8's object layouts on 64-bit Node (no pointer compression): a 16-byte
 * string header with one byte a character for Latin-1 text, two otherwise, rounded up to 8; a
 * 24-byte object header and 8 bytes a property; arrays a 32-byte header and a 16-byte backing
 * store of 8 bytes a slot; non-integer numbers boxed in 16 bytes. The benchmark checks the
 * estimate against the heap measured after a collection.
 */

const WORD = 8;
const roundUp = (bytes: number): number => Math.ceil(bytes / WORD) * WORD;

/** Nested values deeper than this are counted as one pointer-sized slot each: cache values are records, not trees. */
const MAX_DEPTH = 6;

/**
 * A character V8 cannot keep in a one-byte string. The regular expression engine scans a
 * one-byte string for it an order of magnitude faster than a charCodeAt loop does (the cache's
 * records are long Latin-1 strings, so this is most of what a write costs to weigh).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the range is every Latin-1 character, NUL included
const TWO_BYTE_CHARACTER = /[^\u0000-\u00ff]/;

/** A string's heap cost, from its length: one byte a character unless it holds one beyond Latin-1. */
export function stringBytes(text: string): number {
  return 16 + roundUp(text.length * (TWO_BYTE_CHARACTER.test(text) ? 2 : 1));
}

function numberBytes(value: number): number {
  return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 ? 0 : 16;
}

/** Bytes `value` holds on the heap beyond the slot that points at it. */
export function heapBytesOf(value: unknown, depth = 0): number {
  switch (typeof value) {
    case 'string':
      return stringBytes(value);
    case 'number':
      return numberBytes(value);
    case 'bigint':
      return 24;
    case 'object':
      break;
    default:
      return 0;
  }
  if (value === null) return 0;
  if (depth >= MAX_DEPTH) return WORD;
  if (ArrayBuffer.isView(value)) return 96 + roundUp(value.byteLength);
  if (Array.isArray(value)) {
    let bytes = 32 + 16 + WORD * value.length;
    for (const item of value) bytes += heapBytesOf(item, depth + 1);
    return bytes;
  }
  let bytes = 24;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    bytes += WORD + heapBytesOf((value as Record<string, unknown>)[key], depth + 1);
  }
  return bytes;
}
