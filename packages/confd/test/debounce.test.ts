import { describe, expect, it } from 'vitest';
import { Debouncer } from '@calico/confd';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Debouncer', () => {
  it('coalesces a burst of changes into one render', async () => {
    let runs = 0;
    const d = new Debouncer(async () => void runs++, 20);
    for (let i = 0; i < 10; i++) d.trigger();
    await sleep(100);
    expect(runs).toBe(1);
    await d.stop();
  });

  it('changes during a render cause exactly one more render, never two at once', async () => {
    let runs = 0;
    let active = 0;
    let maxActive = 0;
    let release!: () => void;
    const d = new Debouncer(async () => {
      runs++;
      maxActive = Math.max(maxActive, ++active);
      if (runs === 1) await new Promise<void>((r) => (release = r));
      active--;
    }, 5);
    d.trigger();
    while (runs === 0) await sleep(5);
    d.trigger();
    d.trigger();
    d.trigger();
    release();
    while (runs < 2) await sleep(5);
    await sleep(50);
    expect(runs).toBe(2);
    expect(maxActive).toBe(1);
    await d.stop();
  });

  it('does not run after stop()', async () => {
    let runs = 0;
    const d = new Debouncer(async () => void runs++, 20);
    d.trigger();
    await d.stop();
    d.trigger();
    await sleep(60);
    expect(runs).toBe(0);
  });
});
