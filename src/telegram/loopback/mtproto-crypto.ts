/**
 * MTProto 2.0 message encryption, server side: msg_key from SHA-256 over part of the auth key and
 * the plaintext, AES-256-IGE keys derived from both (x = 0 for what the client sends, 8 for what
 * the server sends). IGE itself is GramJS's, the one its client decrypts with.
 */
import { createHash, randomBytes } from 'node:crypto';
import { IGE } from 'telegram/crypto/IGE.js';

/** The 8 bytes that name an auth key on the wire: the low 64 bits of its SHA-1. */
export function authKeyId(authKey: Buffer): Buffer {
  return createHash('sha1').update(authKey).digest().subarray(12, 20);
}

function sha256(...parts: Buffer[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function aesKeyIv(authKey: Buffer, msgKey: Buffer, x: number): { key: Buffer; iv: Buffer } {
  const a = sha256(msgKey, authKey.subarray(x, x + 36));
  const b = sha256(authKey.subarray(40 + x, 40 + x + 36), msgKey);
  return {
    key: Buffer.concat([a.subarray(0, 8), b.subarray(8, 24), a.subarray(24, 32)]),
    iv: Buffer.concat([b.subarray(0, 8), a.subarray(8, 24), b.subarray(24, 32)]),
  };
}

export class MessageKeyError extends Error {
  override readonly name = 'MessageKeyError';
}

/** Decrypts what a client sent (after the auth key id); throws if its msg_key does not match. */
export function decryptFromClient(authKey: Buffer, packet: Buffer): Buffer {
  if (packet.length < 24 + 16 || (packet.length - 24) % 16 !== 0) throw new MessageKeyError(`an encrypted message of ${packet.length} bytes is not 24 + a multiple of 16`);
  const msgKey = packet.subarray(8, 24);
  const { key, iv } = aesKeyIv(authKey, msgKey, 0);
  const plain = Buffer.from(new IGE(key, iv).decryptIge(packet.subarray(24)));
  const expected = sha256(authKey.subarray(88, 120), plain).subarray(8, 24);
  if (!expected.equals(msgKey)) throw new MessageKeyError("the message's msg_key does not match its contents under this auth key");
  return plain;
}

/** Encrypts a plaintext message (salt, session, msg id, seqno, length, body) for the client. */
export function encryptForClient(authKey: Buffer, keyId: Buffer, plain: Buffer): Buffer {
  // 12 to 27 bytes of padding: at least 12, and a multiple of 16 in all.
  const padding = randomBytes(12 + ((16 - ((plain.length + 12) % 16)) % 16));
  const padded = Buffer.concat([plain, padding]);
  const msgKey = sha256(authKey.subarray(96, 128), padded).subarray(8, 24);
  const { key, iv } = aesKeyIv(authKey, msgKey, 8);
  return Buffer.concat([keyId, msgKey, Buffer.from(new IGE(key, iv).encryptIge(padded))]);
}
