/**
 * The server side of MTProto's TCP transports. A client says which one it speaks with its first
 * bytes: 0xef (abridged), 0xeeeeeeee (intermediate), 0xdddddddd (padded intermediate), a length
 * with sequence number 0 (full), or 64 random bytes (obfuscated, wrapping one of the first three
 * in AES-256-CTR). The server answers in the same one, so each client library's own framing runs.
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { crc32 } from 'node:zlib';

export type TransportKind = 'abridged' | 'intermediate' | 'padded' | 'full';

/** Frames past this are refused: a client this far off its framing is talking nonsense. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

const INTERMEDIATE_TAG = 0xeeeeeeee;
const PADDED_TAG = 0xdddddddd;
const ABRIDGED_BYTE = 0xef;
const OBFUSCATED_HEADER_BYTES = 64;

export class TransportFramingError extends Error {
  override readonly name = 'TransportFramingError';
}

function tagKind(tag: number): TransportKind | undefined {
  if (tag === INTERMEDIATE_TAG) return 'intermediate';
  if (tag === PADDED_TAG) return 'padded';
  if (tag === 0xefefefef) return 'abridged';
  return undefined;
}

/** Unpacks one direction of one connection: feed it bytes as they arrive, take whole payloads. */
export class ServerFraming {
  private buffered: Buffer = Buffer.alloc(0);
  private kind: TransportKind | undefined;
  private obfuscated = false;
  private decipher: Decipher | undefined;
  private cipher: Cipher | undefined;
  private sendSeq = 0;
  private receiveSeq = 0;

  /** The transport, once the first bytes have told it. */
  get transport(): string | undefined {
    return this.kind === undefined ? undefined : `${this.obfuscated ? 'obfuscated ' : ''}${this.kind}`;
  }

  /** Adds received bytes; returns every payload they complete. Throws on framing a client cannot mean. */
  push(chunk: Buffer): Buffer[] {
    const plain = this.decipher === undefined ? chunk : this.decipher.update(chunk);
    this.buffered = this.buffered.length === 0 ? plain : Buffer.concat([this.buffered, plain]);
    if (this.kind === undefined && !this.detect()) return [];
    const payloads: Buffer[] = [];
    for (;;) {
      const payload = this.next();
      if (payload === undefined) return payloads;
      payloads.push(payload);
    }
  }

  /** Frames one payload for the client, in its transport. */
  encode(payload: Buffer): Buffer {
    let frame: Buffer;
    switch (this.kind) {
      case 'abridged': {
        const words = payload.length >> 2;
        const header = words < 127 ? Buffer.from([words]) : Buffer.from([0x7f, words & 0xff, (words >> 8) & 0xff, (words >> 16) & 0xff]);
        frame = Buffer.concat([header, payload]);
        break;
      }
      case 'intermediate':
      case 'padded': {
        const header = Buffer.alloc(4);
        header.writeUInt32LE(payload.length, 0);
        frame = Buffer.concat([header, payload]);
        break;
      }
      case 'full': {
        const header = Buffer.alloc(8);
        header.writeInt32LE(payload.length + 12, 0);
        header.writeInt32LE(this.sendSeq++, 4);
        const crc = Buffer.alloc(4);
        const body = Buffer.concat([header, payload]);
        crc.writeUInt32LE(crc32(body), 0);
        frame = Buffer.concat([body, crc]);
        break;
      }
      default:
        throw new TransportFramingError('no transport is known yet: the client has sent nothing');
    }
    return this.cipher === undefined ? frame : this.cipher.update(frame);
  }

  /** A transport-level error (e.g. -404, unknown auth key), framed as a 4-byte payload. */
  encodeError(code: number): Buffer {
    const payload = Buffer.alloc(4);
    payload.writeInt32LE(-Math.abs(code), 0);
    return this.encode(payload);
  }

  private detect(): boolean {
    const data = this.buffered;
    if (data.length < 1) return false;
    if (data[0] === ABRIDGED_BYTE) {
      this.kind = 'abridged';
      this.buffered = data.subarray(1);
      return true;
    }
    if (data.length < 8) return false;
    const tag = tagKind(data.readUInt32LE(0));
    if (tag !== undefined && tag !== 'abridged') {
      this.kind = tag;
      this.buffered = data.subarray(4);
      return true;
    }
    if (data.readUInt32LE(4) === 0) {
      this.kind = 'full';
      return true;
    }
    if (data.length < OBFUSCATED_HEADER_BYTES) return false;
    return this.startObfuscated(data);
  }

  private startObfuscated(data: Buffer): boolean {
    const header = data.subarray(0, OBFUSCATED_HEADER_BYTES);
    const reversed = Buffer.from(header.subarray(8, 56)).reverse();
    this.decipher = createDecipheriv('aes-256-ctr', header.subarray(8, 40), header.subarray(40, 56));
    this.cipher = createCipheriv('aes-256-ctr', reversed.subarray(0, 32), reversed.subarray(32, 48));
    const decrypted = this.decipher.update(data);
    const kind = tagKind(decrypted.readUInt32LE(56));
    if (kind === undefined) throw new TransportFramingError('the first bytes name no MTProto transport (abridged, intermediate, full or obfuscated)');
    this.kind = kind;
    this.obfuscated = true;
    this.buffered = decrypted.subarray(OBFUSCATED_HEADER_BYTES);
    return true;
  }

  private take(bytes: number, skip: number): Buffer | undefined {
    if (bytes < 0 || bytes > MAX_FRAME_BYTES) throw new TransportFramingError(`a frame of ${bytes} bytes is outside 0..${MAX_FRAME_BYTES}`);
    if (this.buffered.length < skip + bytes) return undefined;
    const payload = this.buffered.subarray(skip, skip + bytes);
    this.buffered = this.buffered.subarray(skip + bytes);
    return payload;
  }

  private next(): Buffer | undefined {
    const data = this.buffered;
    switch (this.kind) {
      case 'abridged': {
        if (data.length < 1) return undefined;
        if (data[0]! < 0x7f) return this.take(data[0]! << 2, 1);
        if (data.length < 4) return undefined;
        return this.take((data[1]! | (data[2]! << 8) | (data[3]! << 16)) << 2, 4);
      }
      case 'intermediate':
        return data.length < 4 ? undefined : this.take(data.readUInt32LE(0), 4);
      case 'padded': {
        if (data.length < 4) return undefined;
        const payload = this.take(data.readUInt32LE(0), 4);
        // Padding is 0-15 random bytes after the message; an encrypted message is 24 + 16k bytes.
        return payload === undefined ? undefined : payload.subarray(0, payload.length - ((((payload.length - 24) % 16) + 16) % 16));
      }
      case 'full': {
        if (data.length < 12) return undefined;
        const length = data.readInt32LE(0);
        if (length < 12) throw new TransportFramingError(`a full-transport frame of ${length} bytes is shorter than its 12-byte envelope`);
        const frame = this.take(length, 0);
        if (frame === undefined) return undefined;
        const seq = frame.readInt32LE(4);
        if (seq !== this.receiveSeq) throw new TransportFramingError(`full-transport frame ${seq} arrived where ${this.receiveSeq} was due`);
        this.receiveSeq++;
        const checksum = frame.readUInt32LE(length - 4);
        if (crc32(frame.subarray(0, length - 4)) !== checksum) throw new TransportFramingError('a full-transport frame failed its CRC32');
        return frame.subarray(8, length - 4);
      }
      default:
        return undefined;
    }
  }
}
