import { Api } from 'telegram';
import { floodWaitSeconds, telegramErrorText } from '../src/telegram/rpc-errors.js';
import { isConnectionFailure } from '../src/telegram/live/session-errors.js';
import { defineTask } from '../src/worker/task-context.js';

export interface JoinAndReactArgs {
  /** Channel or group usernames, t.me links or ids. */
  peers: string[];
  /** Default 👍. */
  reaction?: string;
}

export interface JoinAndReactResult {
  /** `getEntity` calls made, one per peer. */
  lookups: number;
  joined: string[];
  /** Peers the account was in already: not a failure, Telegram just says so. */
  alreadyMember: string[];
  reacted: { peer: string; messageId: number }[];
  failed: { peer: string; error: string }[];
}

/**
 * Joins each channel and reacts to its latest post, as an account warming up does. A channel that
 * cannot be joined or reacted to is reported and the others go on; a flood wait or a failed
 * connection ends the task.
 */
export default defineTask<JoinAndReactArgs, JoinAndReactResult>(async ({ client, args, signal }) => {
  const reaction = [new Api.ReactionEmoji({ emoticon: args.reaction ?? '👍' })];
  const result: JoinAndReactResult = { lookups: 0, joined: [], alreadyMember: [], reacted: [], failed: [] };
  for (const peer of args.peers) {
    signal.throwIfAborted();
    try {
      result.lookups++;
      const channel = await client.getEntity(peer);
      if (!(channel instanceof Api.Channel)) throw new Error(`${peer} is not a channel or group`);
      try {
        await client.invoke(new Api.channels.JoinChannel({ channel }));
        result.joined.push(peer);
      } catch (error) {
        if (telegramErrorText(error) !== 'USER_ALREADY_PARTICIPANT') throw error;
        result.alreadyMember.push(peer);
      }
      const [latest] = await client.getMessages(channel, { limit: 1 });
      if (latest === undefined) continue;
      await client.invoke(new Api.messages.SendReaction({ peer: channel, msgId: latest.id, reaction }));
      result.reacted.push({ peer, messageId: latest.id });
    } catch (error) {
      if (floodWaitSeconds(error) !== undefined || isConnectionFailure(error)) throw error;
      result.failed.push({ peer, error: telegramErrorText(error) });
    }
  }
  return result;
});
