import { describe, expect, it } from 'vitest';
import { createWorld } from '../src/telegram/simulated/world.js';

const HOUR_MS = 3_600_000;

describe('the simulated world of a big fleet', () => {
  const world = createWorld({ seed: 7, users: 5000, channels: 300, usernameChangeFraction: 0.5, usernameChangeEveryHours: 1 });
  const peers = [...world.users, ...world.channels];

  it('finds every peer by its id and by its username at time zero, whatever the case', () => {
    for (const peer of peers) {
      expect(world.peer(peer.id)).toBe(peer);
      if (world.usernameEpoch(peer, 0) === 0) expect(world.resolveUsername(peer.baseUsername.toUpperCase(), 0)).toBe(peer);
    }
  });

  it('finds a changing peer under its current username only', () => {
    const changing = peers.filter((peer) => peer.usernameChanges);
    expect(changing.length).toBeGreaterThan(0);
    const later = 5 * HOUR_MS;
    for (const peer of changing) {
      const current = world.usernameAt(peer, later);
      expect(current).not.toBe(peer.baseUsername);
      expect(world.resolveUsername(current, later)).toBe(peer);
      expect(world.resolveUsername(peer.baseUsername, later)).toBeUndefined();
      expect(world.resolveUsername(`${peer.baseUsername}_v${world.usernameEpoch(peer, later) + 1}`, later)).toBeUndefined();
    }
  });

  it('finds nothing for a name or an id no peer has', () => {
    const user = world.users[12];
    const channel = world.channels[3];
    if (user === undefined || channel === undefined) throw new Error('the world is smaller than the test assumes');
    // The index a name ends in, written with a leading zero, another peer's index, or past the end.
    expect(world.resolveUsername(user.baseUsername.replace(/12$/, '012'), 0)).toBeUndefined();
    expect(world.resolveUsername(user.baseUsername.replace(/12$/, '13'), 0)).toBeUndefined();
    expect(world.resolveUsername(channel.baseUsername.replace(/3$/, '99999'), 0)).toBeUndefined();
    expect(world.resolveUsername('nobody_here', 0)).toBeUndefined();
    expect(world.peer(0)).toBeUndefined();
    expect(world.peer(-1)).toBeUndefined();
    // Ids lie scattered between their neighbours': an id next to a peer's is a peer's own, or no one's.
    for (const peer of peers) for (const id of [peer.id - 1, peer.id + 1]) expect(world.peer(id)?.id ?? id).toBe(id);
  });
});
