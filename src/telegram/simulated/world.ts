/**
 * The deterministic world behind the simulated Telegram: public users and channels, their posts,
 * usernames that change over simulated time, and what each account is allowed to see. It is pure
 * data derived from a seed; everything that changes while the server runs (joins, sent messages)
 * lives in the server, so two servers built from one seed start from the same world.
 */
import { hash64, pick, randomInt, seededRandom, unitHash, type Random } from './seeded-random.js';

export interface WorldOptions {
  seed: number;
  /** Public users with a username. Default 60. */
  users?: number;
  /** Public channels (broadcast channels and megagroups). Default 30. */
  channels?: number;
  /** Share of channels that are megagroups rather than broadcast channels. Default 0.3. */
  megagroupFraction?: number;
  /** Recent posts per channel. Default 5. */
  postsPerChannel?: number;
  /** Share of users and channels whose username changes over time. Default 0.1. */
  usernameChangeFraction?: number;
  /** How often a changing username changes, in simulated hours. Default 24. */
  usernameChangeEveryHours?: number;
  /** Chance that a given channel is private for a given account. Default 0.05. */
  privateChannelFraction?: number;
  /** Share of public users who delete their account at some moment of the first simulated day. Default 0.02. */
  deactivationFraction?: number;
  /** Unix time (seconds) of simulated time zero. Default 1_700_000_000. */
  startDate?: number;
}

interface WorldPeerBase {
  readonly id: number;
  /** The username at simulated time zero; later ones derive from it. */
  readonly baseUsername: string;
  readonly usernameChanges: boolean;
  /** Offset into the change period, so that changing peers do not all change at once. */
  readonly changePhaseMs: number;
}

export interface WorldUser extends WorldPeerBase {
  readonly kind: 'user';
  readonly firstName: string;
  readonly lastName: string;
}

export interface WorldPost {
  readonly id: number;
  /** Unix seconds. */
  readonly date: number;
  readonly text: string;
  /** A user or an account's user; broadcast posts have none, they are signed by the channel. */
  readonly authorId?: number;
}

export interface WorldChannel extends WorldPeerBase {
  readonly kind: 'broadcast' | 'megagroup';
  readonly title: string;
  readonly about: string;
  /** Unix seconds. */
  readonly createdAt: number;
  readonly participantsCount: number;
  /** Oldest first. */
  readonly posts: readonly WorldPost[];
}

export type WorldPeer = WorldUser | WorldChannel;

/** The signed-in user behind an account; it has no username, so only its owner can reach it. */
export interface WorldAccount {
  readonly phone: string;
  readonly self: {
    readonly id: number;
    readonly firstName: string;
    readonly lastName: string;
  };
}

const ADJECTIVES = [
  'amber',
  'brisk',
  'calm',
  'dusky',
  'eager',
  'fabled',
  'gentle',
  'hollow',
  'ivory',
  'jolly',
  'keen',
  'lunar',
  'mellow',
  'nimble',
  'olive',
  'proud',
  'quiet',
  'rustic',
  'silver',
  'tidal',
  'urban',
  'vivid',
  'wild',
  'young',
] as const;
const NOUNS = [
  'falcon',
  'harbor',
  'meadow',
  'comet',
  'willow',
  'canyon',
  'ember',
  'glacier',
  'lantern',
  'otter',
  'pepper',
  'quartz',
  'raven',
  'summit',
  'tundra',
  'violet',
  'walrus',
  'yarrow',
  'zephyr',
  'badger',
  'cedar',
  'delta',
  'fjord',
  'heron',
] as const;
const CHANNEL_SUFFIXES = ['news', 'feed', 'digest', 'daily'] as const;
const GROUP_SUFFIXES = ['chat', 'club', 'talk', 'lounge'] as const;
const POST_TOPICS = ['update', 'report', 'notice', 'recap', 'preview', 'note'] as const;

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** Separates ids of public users, channels and account users so that no two peers share an id. */
const USER_ID_BASE = 100_000_000;
const CHANNEL_ID_BASE = 1_500_000_000;
const ACCOUNT_ID_BASE = 5_000_000_000;
const ID_STRIDE = 101;
const ACCOUNT_ID_SPAN = 1_000_000_000;

const USERNAME_RULE = /^[a-zA-Z][a-zA-Z0-9_]{4,31}$/;
/** A rotated username is the base plus `_v<epoch>`; bases never end that way. */
const ROTATED_SUFFIX = /^(.+)_v(\d+)$/;

/** Telegram's rule: 5–32 characters of [a-zA-Z0-9_], starting with a letter. */
export function isValidUsername(username: string): boolean {
  return USERNAME_RULE.test(username);
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** Names are made by the hundred thousand for a big fleet: each capitalized once, not per peer. */
const CAPITALIZED = new Map<string, string>([...ADJECTIVES, ...NOUNS].map((word) => [word, capitalize(word)]));

function capitalized(word: string): string {
  return CAPITALIZED.get(word) ?? capitalize(word);
}

/** A world-made username ends in its peer's index: `amber_falcon12`, `calm_otter_news3`. */
const TRAILING_INDEX = /(\d+)$/;

/** What a fleet's workload asks of the world: shared public peers, and contacts of each account's own. */
export interface FleetDemand {
  accounts: number;
  publicPeers: number;
  privatePeersPerAccount: number;
}

/**
 * The public users a world needs so that every account of the fleet finds its own contacts beside
 * the public peers: the configured number, or more for a fleet too big for it. The world grows
 * with the fleet instead of refusing it.
 */
export function usersForFleet(configuredUsers: number, channels: number, demand: FleetDemand): number {
  const needed = demand.publicPeers + demand.privatePeersPerAccount * demand.accounts - channels;
  return Math.max(configuredUsers, needed);
}

export class World {
  readonly seed: number;
  readonly startDate: number;
  readonly users: readonly WorldUser[];
  readonly channels: readonly WorldChannel[];
  private readonly changePeriodMs: number;
  private readonly privateChannelFraction: number;
  private readonly deactivationFraction: number;
  private readonly accountsByPhone = new Map<string, WorldAccount>();
  private readonly accountsBySelfId = new Map<number, WorldAccount>();

  constructor(options: WorldOptions) {
    this.seed = options.seed;
    this.startDate = options.startDate ?? 1_700_000_000;
    this.changePeriodMs = (options.usernameChangeEveryHours ?? 24) * HOUR_MS;
    this.privateChannelFraction = options.privateChannelFraction ?? 0.05;
    this.deactivationFraction = options.deactivationFraction ?? 0.02;
    if (!(this.changePeriodMs > 0)) throw new RangeError('usernameChangeEveryHours must be positive');

    const random = seededRandom(options.seed);
    const changeFraction = options.usernameChangeFraction ?? 0.1;
    this.users = Array.from({ length: options.users ?? 60 }, (_, index) => this.makeUser(random, index, changeFraction));
    const userIds = this.users.map((user) => user.id);
    const megagroupFraction = options.megagroupFraction ?? 0.3;
    const postsPerChannel = options.postsPerChannel ?? 5;
    this.channels = Array.from({ length: options.channels ?? 30 }, (_, index) =>
      this.makeChannel(random, index, {
        changeFraction,
        megagroup: random() < megagroupFraction,
        postsPerChannel,
        userIds,
      }),
    );
  }

  private makeUser(random: Random, index: number, changeFraction: number): WorldUser {
    const adjective = pick(random, ADJECTIVES);
    const noun = pick(random, NOUNS);
    return {
      kind: 'user',
      id: USER_ID_BASE + index * ID_STRIDE + randomInt(random, ID_STRIDE),
      baseUsername: `${adjective}_${noun}${index}`,
      firstName: capitalized(noun),
      lastName: capitalized(adjective),
      usernameChanges: random() < changeFraction,
      changePhaseMs: randomInt(random, this.changePeriodMs),
    };
  }

  private makeChannel(random: Random, index: number, shape: { changeFraction: number; megagroup: boolean; postsPerChannel: number; userIds: readonly number[] }): WorldChannel {
    const adjective = pick(random, ADJECTIVES);
    const noun = pick(random, NOUNS);
    const suffix = pick(random, shape.megagroup ? GROUP_SUFFIXES : CHANNEL_SUFFIXES);
    const id = CHANNEL_ID_BASE + index * ID_STRIDE + randomInt(random, ID_STRIDE);
    const title = `${capitalized(adjective)} ${capitalized(noun)} ${capitalize(suffix)}`;
    const posts: WorldPost[] = [];
    let date = this.startDate - randomInt(random, 3600);
    for (let postId = shape.postsPerChannel; postId >= 1; postId--) {
      const topic = pick(random, POST_TOPICS);
      const author = shape.megagroup && shape.userIds.length > 0 ? pick(random, shape.userIds) : undefined;
      posts.unshift({
        id: postId,
        date,
        text: `${title} ${topic} #${postId}: ${pick(random, ADJECTIVES)} ${pick(random, NOUNS)}`,
        ...(author === undefined ? {} : { authorId: author }),
      });
      date -= 600 + randomInt(random, 6 * 3600);
    }
    return {
      kind: shape.megagroup ? 'megagroup' : 'broadcast',
      id,
      baseUsername: `${adjective}_${noun}_${suffix}${index}`,
      title,
      about: `${title}: ${shape.megagroup ? 'a group about' : 'posts about'} ${noun}s`,
      createdAt: date - randomInt(random, 365 * 86_400),
      participantsCount: 50 + randomInt(random, 50_000),
      posts,
      usernameChanges: random() < shape.changeFraction,
      changePhaseMs: randomInt(random, this.changePeriodMs),
    };
  }

  peer(id: number): WorldPeer | undefined {
    return peerAt(this.users, USER_ID_BASE, id) ?? peerAt(this.channels, CHANNEL_ID_BASE, id);
  }

  /** How many times the peer's username has changed by simulated time `atMs`. */
  usernameEpoch(peer: WorldPeer, atMs: number): number {
    if (!peer.usernameChanges) return 0;
    return Math.max(0, Math.floor((atMs + peer.changePhaseMs) / this.changePeriodMs));
  }

  usernameAt(peer: WorldPeer, atMs: number): string {
    const epoch = this.usernameEpoch(peer, atMs);
    return epoch === 0 ? peer.baseUsername : `${peer.baseUsername}_v${epoch}`;
  }

  /** Simulated time at which the peer's username next changes, or undefined if it never does. */
  nextUsernameChangeAt(peer: WorldPeer, atMs: number): number | undefined {
    if (!peer.usernameChanges) return undefined;
    return (this.usernameEpoch(peer, atMs) + 1) * this.changePeriodMs - peer.changePhaseMs;
  }

  /** The peer that holds `username` at simulated time `atMs` (case-insensitive, like Telegram). */
  resolveUsername(username: string, atMs: number): WorldPeer | undefined {
    const lower = username.toLowerCase();
    const direct = this.byBaseUsername(lower);
    if (direct !== undefined) return this.usernameEpoch(direct, atMs) === 0 ? direct : undefined;
    const rotated = ROTATED_SUFFIX.exec(lower);
    if (rotated === null) return undefined;
    const [, base, epochText] = rotated;
    const peer = base === undefined ? undefined : this.byBaseUsername(base);
    if (peer === undefined || epochText !== String(this.usernameEpoch(peer, atMs))) return undefined;
    return peer;
  }
  /**
   * The peer whose username at time zero is `lower`, found from the index its name ends in: no
   * map of every name is built, so a world of a big fleet's hundreds of thousands of peers is
   * made in the time its arrays take.
   */
  private byBaseUsername(lower: string): WorldPeer | undefined {
    const index = TRAILING_INDEX.exec(lower)?.[1];
    if (index === undefined) return undefined;
    const user = this.users[Number(index)];
    if (user?.baseUsername === lower) return user;
    const channel = this.channels[Number(index)];
    return channel?.baseUsername === lower ? channel : undefined;
  }

  /** The account's own user; any phone is an account, derived from the phone alone. */
  account(phone: string): WorldAccount {
    let account = this.accountsByPhone.get(phone);
    if (account === undefined) {
      const slot = Math.floor(unitHash(this.seed, 'account', phone) * ACCOUNT_ID_SPAN);
      account = {
        phone,
        self: { id: ACCOUNT_ID_BASE + slot, firstName: 'Account', lastName: phone.slice(-4) },
      };
      this.accountsByPhone.set(phone, account);
      this.accountsBySelfId.set(account.self.id, account);
    }
    return account;
  }

  /** An account already named through {@link account}, found by its user id. */
  accountBySelfId(userId: number): WorldAccount | undefined {
    return this.accountsBySelfId.get(userId);
  }

  /** The access hash of `peerId` as issued to the account: it differs for every account. */
  accessHash(phone: string, peerId: number): bigint {
    return hash64(this.seed, 'access-hash', phone, peerId);
  }

  isChannelPrivateFor(phone: string, channelId: number): boolean {
    return unitHash(this.seed, 'private', phone, channelId) < this.privateChannelFraction;
  }

  /**
   * When a public user deletes their account, in simulated ms, or undefined if they never do. From
   * then on their username is free and requests naming them fail with USER_DEACTIVATED, which is
   * how a cached peer goes bad without anything changing on the account's side.
   */
  deactivatedAt(userId: number): number | undefined {
    if (this.peer(userId)?.kind !== 'user' || unitHash(this.seed, 'deactivates', userId) >= this.deactivationFraction) return undefined;
    return Math.floor(unitHash(this.seed, 'deactivated-at', userId) * 24 * HOUR_MS);
  }

  isDeactivated(userId: number, atMs: number): boolean {
    const at = this.deactivatedAt(userId);
    return at !== undefined && atMs >= at;
  }
}

/** The peer of `peers` with this id: ids are laid out by index from `base`, `ID_STRIDE` apart. */
function peerAt<T extends WorldPeer>(peers: readonly T[], base: number, id: number): T | undefined {
  const peer = peers[Math.floor((id - base) / ID_STRIDE)];
  return peer?.id === id ? peer : undefined;
}

export function createWorld(options: WorldOptions): World {
  return new World(options);
}
