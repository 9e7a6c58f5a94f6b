import { describe, expect, it } from 'vitest';
import { OffsetSyncWriter } from './offset-sync-writer.js';
import type { OffsetSync } from './records.js';

/** A sender whose sends stay unanswered until release(). */
function heldSender() {
  const sent: OffsetSync[] = [];
  const held: Array<() => void> = [];
  return {
    sent,
    send: (s: OffsetSync) => {
      sent.push(s);
      return new Promise<void>((resolve) => held.push(resolve));
    },
    async release() {
      for (const r of held.splice(0)) r();
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

const brief = (s: OffsetSync) => `${s.topic}-${s.partition}:${s.upstreamOffset}->${s.downstreamOffset}`;

describe('OffsetSyncWriter', () => {
  it("writes MM2's syncs: at a partition's first record, every offset.lag.max records, at gaps and truncation", async () => {
    const out = heldSender();
    const w = new OffsetSyncWriter(3n, out.send);
    for (let i = 0n; i < 8n; i++) w.copied('t', 0, i, 100n + i);
    w.copied('t', 0, 10n, 108n); // upstream gap (compaction, transaction markers)
    w.copied('t', 0, 11n, 50n); // the target went back (truncated or recreated)
    await out.release();
    expect(out.sent.map(brief)).toEqual(['t-0:0->100', 't-0:4->104', 't-0:10->108', 't-0:11->50']);
  });

  it('while the sender is busy a partition keeps its oldest and newest syncs, so its first records stay translatable', async () => {
    const out = heldSender();
    const w = new OffsetSyncWriter(2n, out.send, 1, 2);
    w.copied('t', 0, 0n, 0n); // sent: the sender is now full
    for (let i = 0n; i < 10n; i++) w.copied('t', 1, i, i); // partition 1: syncs due at 0, 3, 6, 9
    expect(w.waiting).toBe(2);
    for (let i = 0; i < 4; i++) await out.release();
    expect(out.sent.map(brief)).toEqual(['t-0:0->0', 't-1:0->0', 't-1:9->9']);
    expect(w.waiting).toBe(0);
  });

  it('thins waiting syncs over the range when more are due than it keeps', async () => {
    const out = heldSender();
    const w = new OffsetSyncWriter(1n, out.send, 1, 8);
    w.copied('u', 0, 0n, 0n); // fills the sender
    for (let i = 0n; i < 100n; i += 2n) w.copied('t', 0, i, i); // a gap before each: every record is due
    expect(w.waiting).toBe(8);
    for (let i = 0; i < 10; i++) await out.release();
    const ups = out.sent.filter((s) => s.topic === 't').map((s) => Number(s.upstreamOffset));
    expect(ups[0]).toBe(0);
    expect(ups[ups.length - 1]).toBe(98);
    // Spread over the range (denser towards the newest, as the store keeps them), not bunched at one end.
    expect(ups.some((u) => u > 10 && u < 70)).toBe(true);
  });
});
