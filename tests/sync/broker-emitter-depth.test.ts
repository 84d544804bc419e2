/**
 * The embedded broker's emitter under a burst: aedes' mqemitter starts each queued delivery on the
 * stack of the one that completed, so thousands of queued publishes that complete synchronously
 * recursed into `RangeError: Maximum call stack size exceeded` (10,000 devices, bench/rollout.ts).
 * boundEmitterDepth moves a delivery that deep onto the next turn of the event loop.
 */
import { Aedes } from 'aedes';
import { describe, expect, it } from 'vitest';
import { boundEmitterDepth, type QueuedEmitter } from '../../src/cloud/gateway/broker.js';

type Mq = QueuedEmitter & {
  on(topic: string, fn: (m: unknown, done: () => void) => void, cb?: () => void): void;
  emit(m: { topic: string }, cb: (err?: Error) => void): void;
  concurrency: number;
};

/** Fill the emitter's concurrency with deliveries held open, queue `queued` more that complete at once, then let the held ones finish. */
async function burst(mq: Mq, queued: number): Promise<{ delivered: number; order: number[] }> {
  const held: (() => void)[] = [];
  await new Promise<void>((r) => mq.on('slow/+', (_m, done) => void held.push(done), r));
  for (let i = 0; i < mq.concurrency; i++) mq.emit({ topic: `slow/${i}` }, () => {});
  const order: number[] = [];
  let delivered = 0;
  // No subscriber: fastparallel calls back synchronously, the case that recursed.
  for (let i = 0; i < queued; i++) mq.emit({ topic: `nobody/${i}` }, () => void (delivered++, order.push(i)));
  for (const done of held.splice(0)) done();
  for (let i = 0; i < 200 && delivered < queued; i++) await new Promise((r) => setImmediate(r));
  return { delivered, order };
}

describe('embedded broker: mqemitter depth under a burst of publishes', () => {
  it('without the bound, 20,000 queued publishes overflow the stack (the upstream recursion this guards against)', async () => {
    const broker = await Aedes.createBroker();
    try {
      await expect(burst((broker as unknown as { mq: Mq }).mq, 20_000)).rejects.toThrow(RangeError);
    } finally {
      await new Promise<void>((r) => broker.close(() => r()));
    }
  });

  it('with boundEmitterDepth every queued publish is delivered, in order, and the concurrency bound holds', async () => {
    const broker = await Aedes.createBroker();
    try {
      const mq = (broker as unknown as { mq: Mq }).mq;
      boundEmitterDepth(mq);
      const { delivered, order } = await burst(mq, 20_000);
      expect(delivered).toBe(20_000);
      expect(order.every((v, i) => v === i)).toBe(true);
      expect(mq.current).toBe(0);
    } finally {
      await new Promise<void>((r) => broker.close(() => r()));
    }
  });
});
