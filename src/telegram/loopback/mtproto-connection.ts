/**
 * One client connection to the loopback data centre: MTProto 2.0 over one TCP socket. It binds the
 * connection to the account whose auth key the client presents, keeps the protocol's bookkeeping
 * (server salt, sessions, message ids and seqnos, containers, gzip, pings) and hands every API
 * request to the simulated world, so the world's answers, flood limits and access-hash rules are
 * the same ones the in-process simulator gives.
 */
import type { Socket } from 'node:net';
import { unzipSync, gzipSync } from 'node:zlib';
import { Api, helpers } from 'telegram';
import { BinaryReader } from 'telegram/extensions/index.js';
import type { TransportReply } from '../simulated/transport.js';
import type { DcFaults } from './dc-faults.js';
import { decryptFromClient, encryptForClient, MessageKeyError } from './mtproto-crypto.js';
import { ServerFraming, TransportFramingError } from './transport-codec.js';

const MSG_CONTAINER = 0x73f1f8dc;
const GZIP_PACKED = 0x3072cfa1;
const MSGS_ACK = 0x62d6b459;
const PING = 0x7abe77ec;
const PING_DELAY_DISCONNECT = 0xf3427b8c;
const RPC_RESULT = 0xf35c6d01;
const INVOKE_WITH_LAYER = 0xda9b0d0d;
const INIT_CONNECTION = 0xc1cd5ea9;
const INVOKE_AFTER_MSG = 0xcb9f372d;
const INVOKE_WITHOUT_UPDATES = 0xbf9459b7;
const HELP_GET_CONFIG = 0xc4f9186b;
const GET_FUTURE_SALTS = 0xb921bd04;
const FUTURE_SALTS = 0xae500895;
const MSGS_STATE_REQ = 0xda69fb52;
const MSGS_STATE_INFO = 0x04deb57d;
/** msgs_state_info's "received": the server has the message (and answers it, or has). */
const STATE_RECEIVED = 4;
/** How long the one salt future_salts lists is said to be valid: it changes only when the data centre restarts. */
const SALT_VALIDITY_SECONDS = 3600;
const BAD_SALT_CODE = 48;
/** Results larger than this go back gzip_packed, as Telegram sends large answers. */
const GZIP_RESULTS_OVER_BYTES = 1024;

export interface AccountKey {
  account: string;
  authKey: Buffer;
  keyId: Buffer;
}

/** What a connection needs from the data centre it belongs to. */
export interface DcContext {
  readonly faults: DcFaults;
  /** The salt clients must use now; changes when the data centre restarts. */
  readonly salt: bigint;
  keyOwner(keyId: Buffer): AccountKey | undefined;
  /** A new message id, unique and increasing across the data centre; `kind` 1 answers, 3 notifies. */
  nextMsgId(kind: 1 | 3): bigint;
  /** True the first time a session id is seen for an account (the server then sends new_session_created). */
  isNewSession(account: string, sessionId: bigint): boolean;
  /**
   * Whether this connection may use the account's auth key with this session: false when another
   * open connection uses the same key with another session at the same moment.
   */
  claimKey(connection: MtprotoConnection, account: string, sessionId: bigint): Promise<boolean>;
  /** The connection's first message, with the account and session it is bound to from now on. */
  onBound(connection: MtprotoConnection, account: string, sessionId: bigint): void;
  config(): Api.Config;
  answer(account: string, request: Buffer): Promise<TransportReply>;
  onClosed(connection: MtprotoConnection): void;
  counters: DcCounters;
}

export interface DcCounters {
  connections: number;
  messages: number;
  rpcCalls: number;
  badSalts: number;
  newSessions: number;
  drops: number;
  duplicateAuthKeys: number;
  unknownAuthKeys: number;
  revokedAnswers: number;
  gzippedRequests: number;
  gzippedResults: number;
  /** Restarts of the data centre (telegram.loopback.faults.restart_every, or a test's restart()). */
  restarts: number;
  /** Connections that began while another connection of their account, with another session, was open: two clients of one account at once. */
  doubleConnections: number;
  /** Connections the server closed because no ping came within the last ping_delay_disconnect's delay. */
  pingDisconnects: number;
}

interface Outgoing {
  body: Buffer;
  contentRelated: boolean;
}

function longBytes(value: bigint): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64LE(BigInt.asIntN(64, value), 0);
  return bytes;
}

function bigIntegerOf(value: bigint): Api.long {
  return helpers.returnBigInt(BigInt.asIntN(64, value).toString());
}

function rpcError(code: number, message: string): Buffer {
  return new Api.RpcError({ errorCode: code, errorMessage: message }).getBytes();
}

function tlBytes(data: Buffer): Buffer {
  const header = data.length < 254 ? Buffer.from([data.length]) : Buffer.from([254, data.length & 0xff, (data.length >> 8) & 0xff, (data.length >> 16) & 0xff]);
  const padding = (4 - ((header.length + data.length) % 4)) % 4;
  return Buffer.concat([header, data, Buffer.alloc(padding)]);
}

/**
 * msgs_state_info: every message asked about is "received". Each request this server reads is
 * answered, so a client's pending call is only waiting for its reply.
 */
function msgsStateInfo(msgId: bigint, request: Buffer): Buffer {
  // msgs_state_req msg_ids:Vector<long>: constructor, vector constructor, count.
  const count = request.readInt32LE(8);
  const header = Buffer.alloc(12);
  header.writeUInt32LE(MSGS_STATE_INFO, 0);
  header.writeBigInt64LE(BigInt.asIntN(64, msgId), 4);
  return Buffer.concat([header.subarray(0, 12), tlBytes(Buffer.alloc(count, STATE_RECEIVED))]);
}

/** The request inside invokeWithLayer / initConnection / invokeAfterMsg / invokeWithoutUpdates wrappers. */
function unwrap(request: Buffer, onLayer: (layer: number) => void): Buffer {
  for (;;) {
    const id = request.readUInt32LE(0);
    if (id === INVOKE_WITH_LAYER) {
      onLayer(request.readInt32LE(4));
      request = request.subarray(8);
    } else if (id === INVOKE_AFTER_MSG) {
      request = request.subarray(12);
    } else if (id === INVOKE_WITHOUT_UPDATES) {
      request = request.subarray(4);
    } else if (id === INIT_CONNECTION) {
      const reader = new BinaryReader(request.subarray(4));
      const flags = reader.readInt(false);
      reader.readInt(); // api_id
      for (let field = 0; field < 6; field++) reader.tgReadString(); // device, system, app, langs
      if (flags & 1) {
        reader.readInt(false);
        reader.tgReadString();
        reader.readInt();
      }
      if (flags & 2) reader.tgReadObject();
      request = request.subarray(4 + reader.tellPosition());
    } else {
      return request;
    }
  }
}

export class MtprotoConnection {
  private readonly framing = new ServerFraming();
  private key: AccountKey | undefined;
  private sessionId = 0n;
  private seq = 0;
  private received = 0;
  private outbox: Outgoing[] = [];
  private flushScheduled = false;
  private disconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The API layer the client declared in invokeWithLayer. */
  layer: number | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly dc: DcContext,
  ) {
    dc.counters.connections++;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('end', () => this.close());
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
  }

  get account(): string | undefined {
    return this.key?.account;
  }

  get session(): bigint {
    return this.sessionId;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  get transport(): string | undefined {
    return this.framing.transport;
  }

  /** Ends the connection as a network failure would: no goodbye. */
  drop(): void {
    this.socket.destroy();
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.disconnectTimer);
    this.socket.destroy();
    this.dc.onClosed(this);
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let payloads: Buffer[];
    try {
      payloads = this.framing.push(chunk);
    } catch (error) {
      if (!(error instanceof TransportFramingError)) throw error;
      this.drop();
      return;
    }
    for (const payload of payloads) {
      if (this.closed) return;
      this.packet(payload);
    }
  }

  private packet(payload: Buffer): void {
    if (payload.length < 8) {
      this.drop();
      return;
    }
    const keyId = payload.subarray(0, 8);
    const owner = this.key?.keyId.equals(keyId) ? this.key : this.dc.keyOwner(keyId);
    if (owner === undefined) {
      // Telegram's answer to an auth key it does not know (or to a key exchange it does not run here).
      this.dc.counters.unknownAuthKeys++;
      this.socket.write(this.framing.encodeError(404));
      this.socket.end();
      return;
    }
    this.key = owner;
    let plain: Buffer;
    try {
      plain = decryptFromClient(owner.authKey, payload);
    } catch (error) {
      if (!(error instanceof MessageKeyError)) throw error;
      this.drop();
      return;
    }
    this.dc.counters.messages++;
    this.received++;
    if (this.dc.faults.shouldDrop(this.received)) {
      this.dc.counters.drops++;
      this.drop();
      return;
    }
    if (this.dc.faults.isStalled(owner.account)) return;
    const salt = plain.readBigInt64LE(0);
    const sessionId = plain.readBigInt64LE(8);
    const msgId = plain.readBigInt64LE(16);
    const seqNo = plain.readInt32LE(24);
    const length = plain.readInt32LE(28);
    const body = plain.subarray(32, 32 + length);
    if (this.sessionId !== sessionId) {
      const first = this.sessionId === 0n;
      this.sessionId = sessionId;
      this.seq = 0;
      if (first) this.dc.onBound(this, owner.account, sessionId);
    }
    if (salt !== this.dc.salt) {
      this.dc.counters.badSalts++;
      const reply = new Api.BadServerSalt({
        badMsgId: bigIntegerOf(msgId),
        badMsgSeqno: seqNo,
        errorCode: BAD_SALT_CODE,
        newServerSalt: bigIntegerOf(this.dc.salt),
      });
      this.send({ body: reply.getBytes(), contentRelated: false });
      return;
    }
    if (this.dc.isNewSession(owner.account, sessionId)) {
      this.dc.counters.newSessions++;
      const created = new Api.NewSessionCreated({
        firstMsgId: bigIntegerOf(msgId),
        uniqueId: bigIntegerOf(BigInt(this.dc.counters.newSessions)),
        serverSalt: bigIntegerOf(this.dc.salt),
      });
      this.send({ body: created.getBytes(), contentRelated: true });
    }
    this.message(owner, msgId, body);
  }

  private message(owner: AccountKey, msgId: bigint, body: Buffer): void {
    const id = body.readUInt32LE(0);
    switch (id) {
      case MSG_CONTAINER: {
        const count = body.readInt32LE(4);
        let offset = 8;
        for (let index = 0; index < count; index++) {
          const innerId = body.readBigInt64LE(offset);
          const innerLength = body.readInt32LE(offset + 12);
          this.message(owner, innerId, body.subarray(offset + 16, offset + 16 + innerLength));
          offset += 16 + innerLength;
        }
        return;
      }
      case GZIP_PACKED: {
        this.dc.counters.gzippedRequests++;
        const reader = new BinaryReader(body.subarray(4));
        this.message(owner, msgId, unzipSync(reader.tgReadBytes()));
        return;
      }
      case MSGS_ACK:
        return;
      case PING:
      case PING_DELAY_DISCONNECT: {
        const pong = new Api.Pong({ msgId: bigIntegerOf(msgId), pingId: bigIntegerOf(body.readBigInt64LE(4)) });
        this.send({ body: pong.getBytes(), contentRelated: true });
        if (id === PING_DELAY_DISCONNECT) this.armDisconnect(body.readInt32LE(12));
        return;
      }
      case GET_FUTURE_SALTS:
        this.send({ body: this.futureSalts(msgId), contentRelated: true });
        return;
      case MSGS_STATE_REQ:
        this.send({ body: msgsStateInfo(msgId, body), contentRelated: true });
        return;
      default:
        void this.rpc(owner, msgId, body);
    }
  }

  /** future_salts: the current salt, the only one there is (mtcute asks for them as it starts). */
  private futureSalts(msgId: bigint): Buffer {
    const now = Math.floor(Date.now() / 1000);
    const body = Buffer.alloc(4 + 8 + 4 + 4 + 16);
    body.writeUInt32LE(FUTURE_SALTS, 0);
    body.writeBigInt64LE(BigInt.asIntN(64, msgId), 4);
    body.writeInt32LE(now, 12);
    // A bare vector of bare future_salt: count, then valid_since, valid_until, salt.
    body.writeInt32LE(1, 16);
    body.writeInt32LE(now - SALT_VALIDITY_SECONDS, 20);
    body.writeInt32LE(now + SALT_VALIDITY_SECONDS, 24);
    body.writeBigInt64LE(BigInt.asIntN(64, this.dc.salt), 28);
    return body;
  }

  /** ping_delay_disconnect: the server closes the connection if no ping comes within the delay. */
  private armDisconnect(seconds: number): void {
    clearTimeout(this.disconnectTimer);
    this.disconnectTimer = setTimeout(() => this.pingOverdue(), seconds * 1000);
    this.disconnectTimer.unref();
  }

  /**
   * Timers run before the event loop reads sockets, so a data centre that fell behind could take a
   * ping still unread in its buffer for a missing one: the drop waits one turn of reading first, and
   * a ping read meanwhile has armed a new timer.
   */
  private pingOverdue(): void {
    const overdue = this.disconnectTimer;
    setImmediate(() => {
      if (this.closed || this.disconnectTimer !== overdue) return;
      this.dc.counters.pingDisconnects++;
      this.drop();
    });
  }

  private async rpc(owner: AccountKey, msgId: bigint, request: Buffer): Promise<void> {
    this.dc.counters.rpcCalls++;
    const revoked = this.dc.faults.revocation(owner.account);
    let result: Buffer;
    if (revoked !== undefined) {
      this.dc.counters.revokedAnswers++;
      result = rpcError(401, revoked);
    } else if (!(await this.dc.claimKey(this, owner.account, this.sessionId))) {
      this.dc.counters.duplicateAuthKeys++;
      result = rpcError(406, 'AUTH_KEY_DUPLICATED');
    } else {
      result = await this.answer(owner.account, request);
    }
    const delay = this.dc.faults.replyDelayMs;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (this.closed || this.dc.faults.isStalled(owner.account)) return;
    const packed = result.length > GZIP_RESULTS_OVER_BYTES ? this.gzipped(result) : result;
    const header = Buffer.alloc(4);
    header.writeUInt32LE(RPC_RESULT, 0);
    this.send({ body: Buffer.concat([header, longBytes(msgId), packed]), contentRelated: true });
  }

  private gzipped(result: Buffer): Buffer {
    this.dc.counters.gzippedResults++;
    const header = Buffer.alloc(4);
    header.writeUInt32LE(GZIP_PACKED, 0);
    return Buffer.concat([header, tlBytes(gzipSync(result))]);
  }

  private async answer(account: string, request: Buffer): Promise<Buffer> {
    let query: Buffer;
    try {
      query = unwrap(request, (layer) => (this.layer = layer));
    } catch {
      return rpcError(400, 'INPUT_REQUEST_INVALID');
    }
    if (query.readUInt32LE(0) === HELP_GET_CONFIG) return this.dc.config().getBytes();
    const reply = await this.dc.answer(account, query);
    return reply.ok ? Buffer.from(reply.result.buffer, reply.result.byteOffset, reply.result.byteLength) : rpcError(reply.error.code, reply.error.message);
  }

  private send(message: Outgoing): void {
    if (this.closed) return;
    this.outbox.push(message);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** What became ready in one turn of the event loop goes out as one packet: a msg_container when more than one. */
  private flush(): void {
    this.flushScheduled = false;
    const messages = this.outbox;
    this.outbox = [];
    if (this.closed || messages.length === 0 || this.key === undefined) return;
    if (messages.length === 1) {
      this.write(this.envelope(messages[0]!));
      return;
    }
    const parts = messages.map((message) => this.envelope(message));
    const header = Buffer.alloc(8);
    header.writeUInt32LE(MSG_CONTAINER, 0);
    header.writeInt32LE(parts.length, 4);
    this.write(this.envelope({ body: Buffer.concat([header, ...parts]), contentRelated: false }));
  }

  /** msg_id, seqno, length and body: a message as it stands alone or inside a container. */
  private envelope(message: Outgoing): Buffer {
    const header = Buffer.alloc(16);
    header.writeBigInt64LE(this.dc.nextMsgId(1), 0);
    header.writeInt32LE(message.contentRelated ? this.seq++ * 2 + 1 : this.seq * 2, 8);
    header.writeInt32LE(message.body.length, 12);
    return Buffer.concat([header, message.body]);
  }

  private write(envelope: Buffer): void {
    const key = this.key!;
    const plain = Buffer.concat([longBytes(this.dc.salt), longBytes(this.sessionId), envelope]);
    this.socket.write(this.framing.encode(encryptForClient(key.authKey, key.keyId, plain)));
  }
}
