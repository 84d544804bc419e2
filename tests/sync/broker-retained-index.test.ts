/**
 * The embedded broker answers a SUBSCRIBE without wildcards from its index of retained messages
 * (aedes' memory persistence tests every retained message against every filter: quadratic for a
 * fleet connecting). Same answers as before: the retained message of an exact topic, none once it
 * is cleared, and wildcard filters still go to the persistence.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexRetained, type RetainedStore } from '../../src/cloud/gateway/broker.js';
import { bareAedes } from './helpers.js';

let broker: Awaited<ReturnType<typeof bareAedes>>;
let url: string;
beforeAll(async () => {
  broker = await bareAedes((b) => indexRetained((b as unknown as { persistence: RetainedStore }).persistence));
  url = broker.url;
});
afterAll(() => broker.close());

/** Subscribe a fresh client to `filters` and collect what arrives within 300 ms (the retained messages). */
async function retainedFor(filters: string[]): Promise<Record<string, string>> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, clean: true });
  const got: Record<string, string> = {};
  c.on('message', (topic, payload, packet) => {
    if (packet.retain) got[topic] = payload.toString();
  });
  await c.subscribeAsync(filters, { qos: 1 });
  await new Promise((r) => setTimeout(r, 300));
  await c.endAsync();
  return got;
}

describe('embedded broker: retained messages by exact topic', () => {
  it('exact filters get their retained message, cleared ones none; wildcards still work', async () => {
    const pub = await mqtt.connectAsync(url, { protocolVersion: 4, clean: true });
    for (let i = 0; i < 50; i++) await pub.publishAsync(`fleet/d${i}/desired`, `doc-${i}`, { qos: 1, retain: true });
    await pub.publishAsync('fleet/d7/desired', 'doc-7b', { qos: 1, retain: true });
    await pub.publishAsync('fleet/d8/desired', '', { qos: 1, retain: true });
    expect(await retainedFor(['fleet/d3/desired', 'fleet/d7/desired', 'fleet/d8/desired', 'fleet/none/desired'])).toEqual({
      'fleet/d3/desired': 'doc-3',
      'fleet/d7/desired': 'doc-7b',
    });
    const all = await retainedFor(['fleet/+/desired']);
    expect(Object.keys(all)).toHaveLength(49);
    expect(all['fleet/d7/desired']).toBe('doc-7b');
    await pub.endAsync();
  });
});
