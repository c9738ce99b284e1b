import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { pollBusyFor, pollingBusy } from '../../src/transport/busy-poll.js';

describe('busy polling (src/transport/busy-poll.ts)', () => {
  it('keeps the loop turning until the latest deadline, then stops by itself', async () => {
    expect(pollingBusy()).toBe(false);
    pollBusyFor(5);
    pollBusyFor(300); // a later caller moves the deadline on
    pollBusyFor(1); // an earlier one does not pull it back
    expect(pollingBusy()).toBe(true);
    let turns = 0;
    const count = (): void => {
      turns += 1;
      if (turns < 5) setImmediate(count);
    };
    setImmediate(count);
    await sleep(20);
    expect(pollingBusy()).toBe(true);
    expect(turns).toBe(5);
    // Bounded: gone well after the deadline, leaving nothing scheduled behind.
    for (let i = 0; i < 100 && pollingBusy(); i++) await sleep(10);
    expect(pollingBusy()).toBe(false);
  });
});
