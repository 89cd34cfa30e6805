import { Api, helpers } from 'telegram';
import { recordOf, type EntityRecord } from '../src/telegram/entity-record.js';

/**
 * Cache values as the Telegram client stores them: records of real GramJS channels, each with TL
 * bytes of its own. Benchmarks read these rather than one shared object, which structured clone
 * would copy once and then only reference.
 */
export function sampleRecords(count: number): EntityRecord[] {
  return Array.from({ length: count }, (_, index) => {
    const channel = new Api.Channel({
      id: helpers.returnBigInt(1_500_000_000 + index),
      accessHash: helpers.returnBigInt(-4_242_424_242_424_242n + BigInt(index)),
      title: `Sample channel number ${index}`,
      username: `sample_channel_${index}`,
      photo: new Api.ChatPhotoEmpty(),
      date: 1_700_000_000,
      broadcast: true,
      participantsCount: 1000 + index,
    });
    const record = recordOf(channel, 1_700_000_000_000);
    if (record === undefined) throw new Error('a full channel always has a record');
    return record;
  });
}
