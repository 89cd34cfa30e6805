import { Logger, TelegramClient } from 'telegram';
import { LogLevel } from 'telegram/extensions/Logger.js';
import { Connection, PacketCodec } from 'telegram/network/connection/Connection.js';
import { StringSession } from 'telegram/sessions/index.js';
import { LoopbackDc, type LoopbackDcOptions } from '../../src/telegram/loopback/loopback-dc.js';
import { dcConnection } from '../../src/telegram/live/dc-connection.js';
import { ReconnectPacer } from '../../src/telegram/live/reconnect-pacer.js';
import { SimulatedTelegram, type SimulatedTelegramOptions } from '../../src/telegram/simulated/simulated-telegram.js';
import { createWorld, type WorldOptions } from '../../src/telegram/simulated/world.js';

/** TCP intermediate, which GramJS has no class for: 0xeeeeeeee, then a 4-byte length before each payload. */
class IntermediateCodec extends PacketCodec {
  static tag = Buffer.from('eeeeeeee', 'hex');
  static obfuscateTag = Buffer.from('eeeeeeee', 'hex');
  tag = IntermediateCodec.tag;

  override encodePacket(data: Buffer): Buffer {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(data.length, 0);
    return Buffer.concat([length, data]);
  }

  override async readPacket(reader: { readExactly(bytes: number): Promise<Buffer> }): Promise<Buffer> {
    const length = (await reader.readExactly(4)).readUInt32LE(0);
    return reader.readExactly(length);
  }
}

export class ConnectionTCPIntermediate extends Connection {
  override PacketCodecClass = IntermediateCodec as never;
}

export interface LoopbackSetup {
  world: ReturnType<typeof createWorld>;
  simulator: SimulatedTelegram;
  dc: LoopbackDc;
  /** A GramJS client of `account` over real TCP, with the session the data centre issued it. */
  client(account: string, options?: { transport?: typeof Connection; pacer?: ReconnectPacer }): Promise<TelegramClient>;
  close(): Promise<void>;
}

export async function startLoopback(options: { world?: Partial<WorldOptions>; simulator?: SimulatedTelegramOptions; dc?: LoopbackDcOptions } = {}): Promise<LoopbackSetup> {
  const world = createWorld({ seed: 42, ...options.world });
  const simulator = new SimulatedTelegram(world, { latencyMs: 0, ...options.simulator });
  const dc = await new LoopbackDc(simulator, options.dc).start();
  const clients: TelegramClient[] = [];
  return {
    world,
    simulator,
    dc,
    async client(account, clientOptions = {}) {
      const [issued] = await dc.provision([account]);
      const client = new TelegramClient(new StringSession(issued!.session), 1, '0'.repeat(32), {
        connection: dcConnection({ pacer: clientOptions.pacer ?? new ReconnectPacer(), address: dc.address, ...(clientOptions.transport && { transport: clientOptions.transport }) }),
        baseLogger: new Logger(LogLevel.NONE),
        connectionRetries: 1,
        floodSleepThreshold: 0,
      });
      clients.push(client);
      await client.connect();
      return client;
    },
    async close() {
      await Promise.allSettled(clients.map((client) => client.destroy()));
      await dc.stop();
    },
  };
}
