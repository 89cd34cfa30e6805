import { Api } from 'telegram';
import { floodWaitSeconds, telegramErrorText } from '../src/telegram/rpc-errors.js';
import { isConnectionFailure } from '../src/telegram/live/session-errors.js';
import { defineTask } from '../src/worker/task-context.js';

export interface ChannelDigestArgs {
  /** Usernames, t.me links or ids. */
  peers: string[];
  /** Latest posts to read per channel; 0 only resolves the peers. Default 3. */
  posts?: number;
}

export interface DigestPost {
  peer: string;
  id: number;
  /** Unix seconds. */
  date: number;
  text: string;
}

export interface PeerFailure {
  peer: string;
  error: string;
}

export interface ChannelDigestResult {
  /** `getEntity` calls made, one per peer: what a cache could have answered. */
  lookups: number;
  resolved: number;
  failed: PeerFailure[];
  posts: DigestPost[];
}

/**
 * Resolves a list of peers and reads the latest posts of the channels among them, the way a
 * digest or monitoring bot does. A peer that cannot be read (gone, private, banned) is reported
 * and the digest goes on; a flood wait or a failed connection (revoked session, no answer in time)
 * ends the task, since the account's next call would meet it too.
 */
export default defineTask<ChannelDigestArgs, ChannelDigestResult>(async ({ client, args, signal }) => {
  const posts = args.posts ?? 3;
  const result: ChannelDigestResult = { lookups: 0, resolved: 0, failed: [], posts: [] };
  for (const peer of args.peers) {
    signal.throwIfAborted();
    try {
      result.lookups++;
      const entity = await client.getEntity(peer);
      result.resolved++;
      if (!(entity instanceof Api.Channel) || posts === 0) continue;
      for (const message of await client.getMessages(entity, { limit: posts })) {
        result.posts.push({ peer, id: message.id, date: message.date, text: message.message });
      }
    } catch (error) {
      if (floodWaitSeconds(error) !== undefined || isConnectionFailure(error)) throw error;
      result.failed.push({ peer, error: telegramErrorText(error) });
    }
  }
  return result;
});
