import { Api } from 'telegram';
import { floodWaitSeconds, telegramErrorText } from '../src/telegram/rpc-errors.js';
import { isConnectionFailure } from '../src/telegram/live/session-errors.js';
import { defineTask } from '../src/worker/task-context.js';

export interface ResolveContactsArgs {
  /** User usernames, t.me links or ids. */
  peers: string[];
  /** `{name}` becomes the user's first name. Default "Hello, {name}!". */
  message?: string;
}

export interface ResolveContactsResult {
  /** `getEntity` calls made, one per peer. */
  lookups: number;
  sent: { peer: string; messageId: number }[];
  failed: { peer: string; error: string }[];
}

/**
 * Resolves a list of users and sends each a personal message, as an outreach or notification
 * account does. A user who cannot be reached is reported and the others go on; a flood wait or a
 * failed connection ends the task.
 */
export default defineTask<ResolveContactsArgs, ResolveContactsResult>(async ({ client, args, signal }) => {
  const template = args.message ?? 'Hello, {name}!';
  const result: ResolveContactsResult = { lookups: 0, sent: [], failed: [] };
  for (const peer of args.peers) {
    signal.throwIfAborted();
    try {
      result.lookups++;
      const user = await client.getEntity(peer);
      if (!(user instanceof Api.User)) throw new Error(`${peer} is not a user`);
      const sent = await client.sendMessage(user, { message: template.replaceAll('{name}', user.firstName ?? peer) });
      result.sent.push({ peer, messageId: sent.id });
    } catch (error) {
      if (floodWaitSeconds(error) !== undefined || isConnectionFailure(error)) throw error;
      result.failed.push({ peer, error: telegramErrorText(error) });
    }
  }
  return result;
});
