/**
 * A Telegram server in memory, speaking GramJS TL bytes: the default backend of tgfleet, so a
 * fleet, its caches and its flood handling can be exercised without a network. It enforces the
 * rules that make an entity cache necessary and hard to get right: access hashes that belong to
 * one account, usernames that go stale, and per-account flood limits on username resolution.
 */
import { Api, helpers } from 'telegram';
import { BinaryReader } from 'telegram/extensions/index.js';
import type { MessagePort } from 'node:worker_threads';
import { AccountView } from './account-view.js';
import { FloodLimiter, type FloodLimiterOptions } from './flood-limiter.js';
import { ServerCounters, type CallCounts, type FloodWaitTally } from './server-counters.js';
import { createSimulatedClock, type SimulatedClock, type SimulatedClockOptions } from './simulated-clock.js';
import { inProcessTransport, servePort, type RequestHandler, type TelegramTransport, type TransportReply } from './transport.js';
import { isValidUsername, type World, type WorldChannel, type WorldPost } from './world.js';

export interface SimulatedTelegramOptions extends SimulatedClockOptions {
  /** Simulated ms every call takes before its reply. Default 50. */
  latencyMs?: number;
  /** ResolveUsername calls per account per sliding simulated minute. Default 30. */
  resolveLimitPerMinute?: number;
  /** How FLOOD_WAIT escalates; see {@link FloodLimiterOptions}. */
  floodWait?: Omit<FloodLimiterOptions, 'limitPerMinute'>;
}

/** An RPC error as Telegram would return it; thrown inside a handler, turned into a reply. */
class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly seconds?: number,
  ) {
    super(message);
  }
}

interface TlObject {
  getBytes(): Buffer;
}

/** A method's result: one TL object, or a `Vector<T>` of them. */
type TlResult = TlObject | readonly TlObject[];

const VECTOR_CONSTRUCTOR_ID = 0x1cb5c415;
const MAX_HISTORY_LIMIT = 100;

function encodeResult(result: TlResult): Uint8Array {
  if (!Array.isArray(result)) return (result as TlObject).getBytes();
  const header = Buffer.alloc(8);
  header.writeUInt32LE(VECTOR_CONSTRUCTOR_ID, 0);
  header.writeInt32LE(result.length, 4);
  return Buffer.concat([header, ...result.map((item) => item.getBytes())]);
}

function decodeRequest(bytes: Uint8Array): { className: string } & object {
  let decoded: unknown;
  try {
    decoded = new BinaryReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).tgReadObject();
  } catch {
    throw new RpcFailure(400, 'INPUT_REQUEST_INVALID');
  }
  const request = decoded as { classType?: unknown; className?: unknown } | null;
  if (typeof request !== 'object' || request === null || request.classType !== 'request') {
    throw new RpcFailure(400, 'INPUT_REQUEST_INVALID');
  }
  return request as { className: string } & object;
}

function idOf(value: Api.long): number {
  return Number(value.toString());
}

function hashOf(value: Api.long): bigint {
  return BigInt(value.toString());
}

/**
 * One page of a chat's messages, newest first, as messages.getHistory pages them: the page starts
 * at the first message older than offsetId/offsetDate, moved by addOffset (negative moves toward
 * newer messages, which is how GramJS iterates in reverse).
 */
function page(messages: readonly WorldPost[], request: Api.messages.GetHistory): WorldPost[] {
  const { offsetId = 0, offsetDate = 0, addOffset = 0, maxId = 0, minId = 0 } = request;
  const limit = Math.min(Math.max(request.limit ?? 0, 0) || MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT);
  const newestFirst = messages.filter((message) => (maxId <= 0 || message.id < maxId) && message.id > minId).reverse();
  const offsetIndex = newestFirst.findIndex((message) => (offsetId <= 0 || message.id < offsetId) && (offsetDate <= 0 || message.date < offsetDate));
  const start = Math.max(0, (offsetIndex === -1 ? newestFirst.length : offsetIndex) + addOffset);
  return newestFirst.slice(start, start + limit);
}

export class SimulatedTelegram {
  readonly world: World;
  readonly clock: SimulatedClock;
  private readonly latencyMs: number;
  private readonly resolveLimiter: FloodLimiter;
  private readonly counters = new ServerCounters();
  /** Accounts that have called: the candidates when a presented hash might be another's. */
  private readonly accounts = new Set<string>();
  private readonly joined = new Set<string>();
  private readonly sentToChannel = new Map<number, WorldPost[]>();
  private readonly privateChats = new Map<string, WorldPost[]>();
  private readonly nextPrivateId = new Map<string, number>();
  private readonly servedPorts = new Set<{ close(): void }>();
  private pts = 1;

  constructor(world: World, options: SimulatedTelegramOptions = {}) {
    this.world = world;
    this.clock = createSimulatedClock(options);
    this.latencyMs = options.latencyMs ?? 50;
    this.resolveLimiter = new FloodLimiter({
      ...options.floodWait,
      limitPerMinute: options.resolveLimitPerMinute ?? 30,
    });
  }

  /**
   * Answers one serialized request from `account`; RPC errors are replies, not rejections. The
   * answer is decided on arrival, so concurrent calls meet the flood limit in arrival order; only
   * the reply waits out the latency.
   */
  async handle(account: string, requestBytes: Uint8Array): Promise<TransportReply> {
    const reply = this.answer(account, requestBytes);
    await this.clock.sleep(this.latencyMs);
    return reply;
  }

  /** An in-process connection authenticated as `account`. */
  connect(account: string): TelegramTransport {
    return inProcessTransport(this.handlerFor(account));
  }

  /**
   * Serves one end of a MessageChannel as `account`; the other end goes to a worker, which wraps it
   * with `portTransport`. The binding lives here, so a worker cannot speak as another account.
   */
  serve(account: string, port: MessagePort): void {
    const served = servePort(port, this.handlerFor(account));
    this.servedPorts.add(served);
    port.once('close', () => this.servedPorts.delete(served));
  }

  /** Worker connections (served ports) still open: a client that disconnected has closed its own. */
  get openConnections(): number {
    return this.servedPorts.size;
  }

  /** Closes every served port; in-process connections are closed by their clients. */
  close(): void {
    for (const served of this.servedPorts) served.close();
    this.servedPorts.clear();
  }

  calls(): CallCounts {
    return this.counters.calls();
  }

  totalCalls(method?: string): number {
    return this.counters.totalCalls(method);
  }

  /** Every call one account has made. */
  accountCalls(account: string): number {
    return this.counters.accountCalls(account);
  }

  floodWaits(): Record<string, FloodWaitTally> {
    return this.counters.floodWaits();
  }

  /** Requests refused because they carried an access hash issued to a different account. */
  foreignHashRejections(account?: string): number {
    return this.counters.foreignHashRejections(account);
  }

  resetCounters(): void {
    this.counters.reset();
  }

  private handlerFor(account: string): RequestHandler {
    return (request) => this.handle(account, request);
  }

  private answer(account: string, requestBytes: Uint8Array): TransportReply {
    this.accounts.add(account);
    try {
      const request = decodeRequest(requestBytes);
      this.counters.recordCall(account, request.className);
      const view = new AccountView(this.world, account, this.clock.now(), (channelId) => this.joined.has(this.memberKey(account, channelId)));
      return { ok: true, result: encodeResult(this.dispatch(view, request)) };
    } catch (error) {
      if (!(error instanceof RpcFailure)) throw error;
      if (error.seconds !== undefined) this.counters.recordFloodWait(account, error.seconds);
      return {
        ok: false,
        error: {
          message: error.message,
          code: error.code,
          ...(error.seconds === undefined ? {} : { seconds: error.seconds }),
        },
      };
    }
  }

  private dispatch(view: AccountView, request: object): TlResult {
    if (request instanceof Api.contacts.ResolveUsername) return this.resolveUsername(view, request);
    if (request instanceof Api.users.GetUsers) return this.getUsers(view, request);
    if (request instanceof Api.users.GetFullUser) return view.userFull(this.userObject(view, request.id));
    if (request instanceof Api.channels.GetChannels) {
      return new Api.messages.Chats({
        chats: (request.id ?? []).map((input) => view.channel(this.readableChannel(view, input))),
      });
    }
    if (request instanceof Api.channels.GetFullChannel) {
      return view.channelFull(this.readableChannel(view, request.channel), this.pts);
    }
    if (request instanceof Api.messages.GetChats) throw new RpcFailure(400, 'CHAT_ID_INVALID');
    if (request instanceof Api.messages.GetHistory) return this.getHistory(view, request);
    if (request instanceof Api.messages.SendMessage) return this.sendMessage(view, request);
    if (request instanceof Api.channels.JoinChannel) return this.joinChannel(view, request);
    if (request instanceof Api.messages.SendReaction) return this.sendReaction(view, request);
    if (request instanceof Api.updates.GetState) {
      return new Api.updates.State({ pts: this.pts, qts: 0, date: view.date, seq: 0, unreadCount: 0 });
    }
    throw new RpcFailure(400, 'METHOD_NOT_SUPPORTED_IN_SIMULATOR');
  }

  private resolveUsername(view: AccountView, request: Api.contacts.ResolveUsername): TlObject {
    const grant = this.resolveLimiter.acquire(view.phone, view.atMs);
    if (!grant.ok) throw new RpcFailure(420, `FLOOD_WAIT_${grant.waitSeconds}`, grant.waitSeconds);
    const username = request.username.replace(/^@/, '');
    if (!isValidUsername(username)) throw new RpcFailure(400, 'USERNAME_INVALID');
    const peer = this.world.resolveUsername(username, view.atMs);
    if (peer === undefined || this.world.isDeactivated(peer.id, view.atMs)) throw new RpcFailure(400, 'USERNAME_NOT_OCCUPIED');
    if (peer.kind === 'user') {
      const user = view.user(peer);
      return new Api.contacts.ResolvedPeer({ peer: new Api.PeerUser({ userId: user.id }), chats: [], users: [user] });
    }
    const channel = view.channel(peer);
    return new Api.contacts.ResolvedPeer({
      peer: new Api.PeerChannel({ channelId: channel.id }),
      chats: [channel],
      users: [],
    });
  }

  private getUsers(view: AccountView, request: Api.users.GetUsers): TlObject[] {
    return (request.id ?? []).map((input) => this.userObject(view, input));
  }

  private getHistory(view: AccountView, request: Api.messages.GetHistory): TlObject {
    const target = this.peerOf(view, request.peer);
    if (target.kind === 'user') {
      const messages = page(this.privateChats.get(this.memberKey(view.phone, target.id)) ?? [], request);
      return new Api.messages.Messages({
        messages: messages.map((message) => this.privateMessage(view, target.id, message)),
        chats: [],
        users: [...view.sendersOf(messages), target.user],
      });
    }
    const channel = this.requireReadable(view, target.channel);
    const all = this.channelMessages(channel);
    const messages = page(all, request);
    return new Api.messages.ChannelMessages({
      pts: this.pts,
      count: all.length,
      messages: messages.map((message) => view.channelMessage(channel, message)),
      topics: [],
      chats: [view.channel(channel)],
      users: view.sendersOf(messages),
    });
  }

  private sendMessage(view: AccountView, request: Api.messages.SendMessage): TlObject {
    const target = this.peerOf(view, request.peer);
    const selfId = view.account.self.id;
    if (target.kind === 'user') {
      const key = this.memberKey(view.phone, target.id);
      const id = this.nextPrivateId.get(view.phone) ?? 1;
      this.nextPrivateId.set(view.phone, id + 1);
      const chat = this.privateChats.get(key) ?? [];
      chat.push({ id, date: view.date, text: request.message, authorId: selfId });
      this.privateChats.set(key, chat);
      this.pts += 1;
      return new Api.UpdateShortSentMessage({ out: true, id, pts: this.pts, ptsCount: 1, date: view.date });
    }
    const channel = this.requireReadable(view, target.channel);
    if (channel.kind === 'broadcast' || !this.joined.has(this.memberKey(view.phone, channel.id))) {
      throw new RpcFailure(403, 'CHAT_WRITE_FORBIDDEN');
    }
    const sent = this.sentToChannel.get(channel.id) ?? [];
    const message: WorldPost = {
      id: (this.channelMessages(channel).at(-1)?.id ?? 0) + 1,
      date: view.date,
      text: request.message,
      authorId: selfId,
    };
    sent.push(message);
    this.sentToChannel.set(channel.id, sent);
    this.pts += 1;
    return new Api.Updates({
      updates: [
        new Api.UpdateMessageID({ id: message.id, randomId: request.randomId }),
        new Api.UpdateNewChannelMessage({
          message: view.channelMessage(channel, message),
          pts: this.pts,
          ptsCount: 1,
        }),
      ],
      users: [view.self()],
      chats: [view.channel(channel)],
      date: view.date,
      seq: 0,
    });
  }

  private joinChannel(view: AccountView, request: Api.channels.JoinChannel): TlObject {
    const channel = this.readableChannel(view, request.channel);
    const key = this.memberKey(view.phone, channel.id);
    if (this.joined.has(key)) throw new RpcFailure(400, 'USER_ALREADY_PARTICIPANT');
    this.joined.add(key);
    return new Api.Updates({ updates: [], users: [], chats: [view.channel(channel)], date: view.date, seq: 0 });
  }

  private sendReaction(view: AccountView, request: Api.messages.SendReaction): TlObject {
    const target = this.peerOf(view, request.peer);
    const messages = target.kind === 'user' ? (this.privateChats.get(this.memberKey(view.phone, target.id)) ?? []) : this.channelMessages(this.requireReadable(view, target.channel));
    const msgId = Number(request.msgId);
    if (!messages.some((message) => message.id === msgId)) throw new RpcFailure(400, 'MESSAGE_ID_INVALID');
    const chats = target.kind === 'channel' ? [view.channel(target.channel)] : [];
    return new Api.Updates({ updates: [], users: [], chats, date: view.date, seq: 0 });
  }

  private channelMessages(channel: WorldChannel): readonly WorldPost[] {
    const sent = this.sentToChannel.get(channel.id);
    return sent === undefined ? channel.posts : [...channel.posts, ...sent];
  }

  private privateMessage(view: AccountView, userId: number, message: WorldPost): Api.Message {
    return new Api.Message({
      id: message.id,
      peerId: new Api.PeerUser({ userId: helpers.returnBigInt(userId) }),
      fromId: new Api.PeerUser({ userId: helpers.returnBigInt(view.account.self.id) }),
      date: message.date,
      message: message.text,
      out: true,
    });
  }

  private memberKey(phone: string, peerId: number): string {
    return `${phone}\u0000${peerId}`;
  }

  /**
   * Checks a presented access hash against the one this account was issued. A mismatch is the
   * error Telegram gives; if the hash belongs to another account that has called, it is a leak
   * and is counted.
   */
  private checkHash(view: AccountView, peerId: number, presented: Api.long, error: string): void {
    const hash = hashOf(presented);
    if (hash === this.world.accessHash(view.phone, peerId)) return;
    for (const other of this.accounts) {
      if (other !== view.phone && this.world.accessHash(other, peerId) === hash) {
        this.counters.recordForeignHash(view.phone);
        break;
      }
    }
    throw new RpcFailure(400, error);
  }

  private userOf(view: AccountView, userId: number, accessHash: Api.long): { id: number; user: Api.User } {
    const user = view.userById(userId);
    if (user === undefined) throw new RpcFailure(400, 'PEER_ID_INVALID');
    this.checkHash(view, userId, accessHash, 'PEER_ID_INVALID');
    if (this.world.isDeactivated(userId, view.atMs)) throw new RpcFailure(400, 'USER_DEACTIVATED');
    return { id: userId, user };
  }

  private userObject(view: AccountView, input: unknown): Api.User {
    if (input instanceof Api.InputUserSelf || input instanceof Api.InputPeerSelf) return view.self();
    if (input instanceof Api.InputUser || input instanceof Api.InputPeerUser) {
      return this.userOf(view, idOf(input.userId), input.accessHash).user;
    }
    throw new RpcFailure(400, 'PEER_ID_INVALID');
  }

  private channelOf(view: AccountView, input: unknown): WorldChannel {
    if (!(input instanceof Api.InputChannel || input instanceof Api.InputPeerChannel)) {
      throw new RpcFailure(400, 'CHANNEL_INVALID');
    }
    const channelId = idOf(input.channelId);
    const channel = this.world.peer(channelId);
    if (channel === undefined || channel.kind === 'user') throw new RpcFailure(400, 'CHANNEL_INVALID');
    this.checkHash(view, channelId, input.accessHash, 'CHANNEL_INVALID');
    return channel;
  }

  private requireReadable(view: AccountView, channel: WorldChannel): WorldChannel {
    if (this.world.isChannelPrivateFor(view.phone, channel.id)) throw new RpcFailure(400, 'CHANNEL_PRIVATE');
    return channel;
  }

  private readableChannel(view: AccountView, input: unknown): WorldChannel {
    return this.requireReadable(view, this.channelOf(view, input));
  }

  private peerOf(view: AccountView, input: unknown): { kind: 'user'; id: number; user: Api.User } | { kind: 'channel'; channel: WorldChannel } {
    if (input instanceof Api.InputPeerChannel) return { kind: 'channel', channel: this.channelOf(view, input) };
    if (input instanceof Api.InputPeerSelf) {
      return { kind: 'user', id: view.account.self.id, user: view.self() };
    }
    if (input instanceof Api.InputPeerUser) {
      return { kind: 'user', ...this.userOf(view, idOf(input.userId), input.accessHash) };
    }
    throw new RpcFailure(400, 'PEER_ID_INVALID');
  }
}
