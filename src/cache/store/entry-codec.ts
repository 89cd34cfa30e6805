import { deserialize, serialize } from 'node:v8';

/*
 * Cache values as the store holds them: one tag byte, then the payload. Peer records are Latin-1
 * strings (one byte a character, TL bytes included, NULs and all), so they are stored byte for
 * byte; any other value a task caches goes through V8's serializer, which keeps what structured
 * clone keeps. An alias stores the key it points at.
 */
const ALIAS = 0x61;
const LATIN1 = 0x6c;
const UTF8 = 0x75;
const V8 = 0x76;

export type DecodedEntry = { alias: false; value: unknown } | { alias: true; target: string };

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

/** A buffer of its own, not a slice of Node's pool: a batch posted to the SQLite thread copies each entry's whole backing store. */
function tagged(tag: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = tag;
  out.set(payload, 1);
  return out;
}

export function encodeValue(value: unknown): Uint8Array {
  if (typeof value === 'string') return isLatin1(value) ? tagged(LATIN1, Buffer.from(value, 'latin1')) : tagged(UTF8, Buffer.from(value, 'utf8'));
  return tagged(V8, serialize(value));
}

export function encodeAlias(target: string): Uint8Array {
  return tagged(ALIAS, Buffer.from(target, 'utf8'));
}

/** Throws on bytes no version of this codec wrote, so a foreign or damaged row is skipped, not served. */
export function decodeEntry(data: Uint8Array): DecodedEntry {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const payload = bytes.subarray(1);
  switch (bytes[0]) {
    case ALIAS:
      return { alias: true, target: payload.toString('utf8') };
    case LATIN1:
      return { alias: false, value: payload.toString('latin1') };
    case UTF8:
      return { alias: false, value: payload.toString('utf8') };
    case V8:
      return { alias: false, value: deserialize(payload) };
    default:
      throw new TypeError(`a stored cache entry starts with tag ${String(bytes[0])}, which no version of tgfleet writes`);
  }
}
