/**
 * The world as one account sees it, as GramJS TL objects: every access hash in them is that
 * account's own, and usernames are the ones current at the moment of the call. Rendering all
 * objects through one view is what keeps a reply from carrying another account's hash.
 */
import { Api, helpers } from 'telegram';
import type { World, WorldAccount, WorldChannel, WorldPost, WorldUser } from './world.js';

export class AccountView {
  readonly account: WorldAccount;

  constructor(
    private readonly world: World,
    phone: string,
    /** Simulated ms: decides which usernames are current. */
    readonly atMs: number,
    private readonly isJoined: (channelId: number) => boolean,
  ) {
    this.account = world.account(phone);
  }

  get phone(): string {
    return this.account.phone;
  }

  /** Unix seconds at `atMs`. */
  get date(): number {
    return this.world.startDate + Math.floor(this.atMs / 1000);
  }

  accessHash(peerId: number): Api.long {
    return helpers.returnBigInt(this.world.accessHash(this.phone, peerId));
  }

  self(): Api.User {
    return this.accountUser(this.account);
  }

  /** An account's own user: with its phone for the account itself, as a stranger for others. */
  accountUser(account: WorldAccount): Api.User {
    const isSelf = account === this.account;
    return new Api.User({
      id: helpers.returnBigInt(account.self.id),
      accessHash: this.accessHash(account.self.id),
      firstName: account.self.firstName,
      lastName: account.self.lastName,
      ...(isSelf ? { self: true, phone: account.phone.replace(/^\+/, '') } : {}),
    });
  }

  user(user: WorldUser): Api.User {
    return new Api.User({
      id: helpers.returnBigInt(user.id),
      accessHash: this.accessHash(user.id),
      firstName: user.firstName,
      lastName: user.lastName,
      username: this.world.usernameAt(user, this.atMs),
    });
  }

  /** A message sender: a world user or an account. */
  userById(userId: number): Api.User | undefined {
    const peer = this.world.peer(userId);
    if (peer?.kind === 'user') return this.user(peer);
    const account = this.world.accountBySelfId(userId);
    return account === undefined ? undefined : this.accountUser(account);
  }

  channel(channel: WorldChannel): Api.Channel {
    return new Api.Channel({
      id: helpers.returnBigInt(channel.id),
      accessHash: this.accessHash(channel.id),
      title: channel.title,
      username: this.world.usernameAt(channel, this.atMs),
      photo: new Api.ChatPhotoEmpty(),
      date: channel.createdAt,
      broadcast: channel.kind === 'broadcast',
      megagroup: channel.kind === 'megagroup',
      left: !this.isJoined(channel.id),
      participantsCount: channel.participantsCount,
    });
  }

  channelFull(channel: WorldChannel, pts: number): Api.messages.ChatFull {
    const lastPostId = channel.posts.at(-1)?.id ?? 0;
    return new Api.messages.ChatFull({
      fullChat: new Api.ChannelFull({
        id: helpers.returnBigInt(channel.id),
        about: channel.about,
        participantsCount: channel.participantsCount,
        readInboxMaxId: lastPostId,
        readOutboxMaxId: 0,
        unreadCount: 0,
        chatPhoto: new Api.PhotoEmpty({ id: helpers.returnBigInt(0) }),
        notifySettings: new Api.PeerNotifySettings({}),
        botInfo: [],
        pts,
      }),
      chats: [this.channel(channel)],
      users: [],
    });
  }

  userFull(user: Api.User): Api.users.UserFull {
    return new Api.users.UserFull({
      fullUser: new Api.UserFull({
        id: user.id,
        settings: new Api.PeerSettings({}),
        notifySettings: new Api.PeerNotifySettings({}),
        commonChatsCount: 0,
      }),
      chats: [],
      users: [user],
    });
  }

  channelMessage(channel: WorldChannel, message: WorldPost): Api.Message {
    const senderId = message.authorId;
    return new Api.Message({
      id: message.id,
      peerId: new Api.PeerChannel({ channelId: helpers.returnBigInt(channel.id) }),
      date: message.date,
      message: message.text,
      post: channel.kind === 'broadcast',
      out: senderId === this.account.self.id,
      ...(senderId === undefined ? {} : { fromId: new Api.PeerUser({ userId: helpers.returnBigInt(senderId) }) }),
    });
  }

  /** The users a list of messages mentions as senders, each once. */
  sendersOf(messages: readonly WorldPost[]): Api.User[] {
    const ids = new Set<number>();
    for (const message of messages) if (message.authorId !== undefined) ids.add(message.authorId);
    return [...ids].flatMap((id) => this.userById(id) ?? []);
  }
}
