/** inTxn: stale reads are run again, writes bump the serial, a read-only call sees one configuration. */
import { describe, expect, it, onTestFinished } from 'vitest';
import { BerthError } from '../../protocols/index.js';
import { SqliteStore } from '../../store/index.js';
import { CONFIG_SERIAL_KEY, inTxn } from './txn.js';

function open() {
  const store = SqliteStore.open(':memory:');
  onTestFinished(() => store.close());
  return store;
}
const bumpSerial = (store: SqliteStore) => store.txn([], [{ type: 'put', key: CONFIG_SERIAL_KEY, value: '77' }]);

describe('inTxn', () => {
  it('commits the writes with the serial bumped', async () => {
    const store = open();
    expect(await inTxn(store, (tx) => (tx.put('/elbv2/x', { a: 1 }), Promise.resolve('done')))).toBe('done');
    expect((await store.get('/elbv2/x'))?.value).toBe('{"a":1}');
    expect((await store.get(CONFIG_SERIAL_KEY))?.value).toBe('1');
    await inTxn(store, (tx) => (tx.put('/elbv2/y', 2), Promise.resolve()));
    expect((await store.get(CONFIG_SERIAL_KEY))?.value).toBe('2');
  });

  it('runs a decision again when a configuration write landed after its reads', async () => {
    const store = open();
    let attempts = 0;
    await inTxn(store, async (tx) => {
      attempts++;
      await tx.get('/elbv2/x');
      if (attempts === 1) await bumpSerial(store);
      tx.put('/elbv2/x', attempts);
    });
    expect(attempts).toBe(2);
    expect((await store.get('/elbv2/x'))?.value).toBe('2');
  });

  it('guards target writes on the keys read, without the serial', async () => {
    const store = open();
    let attempts = 0;
    await inTxn(
      store,
      async (tx) => {
        attempts++;
        await tx.get('/elbv2/targets/t');
        if (attempts === 1) await store.txn([], [{ type: 'put', key: '/elbv2/targets/t', value: '"x"' }]);
        await bumpSerial(store);
        tx.put('/elbv2/targets/t', attempts);
      },
      { config: false },
    );
    expect(attempts).toBe(2);
    expect((await store.get(CONFIG_SERIAL_KEY))?.value).toBe('77');
  });

  it('reads again when the configuration changed while a read-only call read it', async () => {
    const store = open();
    let attempts = 0;
    const seen = await inTxn(store, async (tx) => {
      attempts++;
      const v = await tx.get<number>('/elbv2/x');
      if (attempts === 1) await store.txn([], [{ type: 'put', key: '/elbv2/x', value: '5' }, { type: 'put', key: CONFIG_SERIAL_KEY, value: '9' }]);
      return v;
    });
    expect([attempts, seen]).toEqual([2, 5]);
  });

  it('gives up with Throttling after bounded attempts, writing nothing', async () => {
    const store = open();
    const err = await inTxn(store, async (tx) => {
      await bumpSerial(store);
      tx.put('/elbv2/never', 1);
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('ThrottlingException');
    expect(await store.get('/elbv2/never')).toBeUndefined();
  });

  it('lets a refusal through at once', async () => {
    const store = open();
    await expect(inTxn(store, () => Promise.reject(new BerthError('ValidationException', 'no')))).rejects.toThrow('no');
  });
});
