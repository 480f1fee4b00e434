import { CompiledQuery } from 'kysely'
import { afterAll, describe, expect, it } from 'vitest'
import { openEmbeddedStore } from '../../src/main/store/store'

/** Local mode's store runs on a thread of its own: the main event loop stays free, values come back as before. */

const opened = openEmbeddedStore(undefined)
afterAll(async () => (await opened).close())

const query = async <R>(text: string, parameters: unknown[] = []) =>
  (await (await opened).db.executeQuery<R>(CompiledQuery.raw(text, parameters))).rows

describe('the embedded store on its thread', () => {
  it('keeps the main event loop turning while a long query runs', async () => {
    await query('SELECT 1')
    let turns = 0
    let running = true
    const turn = () => {
      turns++
      if (running) setImmediate(turn)
    }
    setImmediate(turn)
    // Heavy enough to take a while on any machine; in the main thread's PGlite no turn could happen meanwhile.
    const [row] = await query<{ n: number }>('SELECT count(*) AS n FROM generate_series(1, 3000000)')
    running = false
    expect(row?.n).toBe(3_000_000)
    expect(turns).toBeGreaterThan(1)
  })

  it('returns values as PGlite does: int8 as a number, numeric as a string, dates, json, arrays, bytes', async () => {
    const [row] = await query<Record<string, unknown>>(
      `SELECT 9007199254740991::int8 AS big, 12.50::numeric(18,2) AS money, $1::timestamptz AS ts,
              '{"a": [1, "x"]}'::jsonb AS doc, ARRAY['a', 'b'] AS list, '\\x0102'::bytea AS bytes,
              true AS yes, NULL::text AS nothing`,
      [new Date('2026-01-02T03:04:05.678Z')],
    )
    expect(row).toEqual({
      big: 9007199254740991,
      money: '12.50',
      ts: new Date('2026-01-02T03:04:05.678Z'),
      doc: { a: [1, 'x'] },
      list: ['a', 'b'],
      bytes: new Uint8Array([1, 2]),
      yes: true,
      nothing: null,
    })
  })

  it("passes the database's errors on with their code and constraint", async () => {
    await query('CREATE TABLE thread_keys (id int CONSTRAINT thread_keys_pkey PRIMARY KEY)')
    await query('INSERT INTO thread_keys VALUES (1)')
    const failure = await query('INSERT INTO thread_keys VALUES (1)').catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(Error)
    expect(failure).toMatchObject({
      code: '23505',
      constraint: 'thread_keys_pkey',
      message: expect.stringMatching(/duplicate key/),
    })
    // One bad statement never stops the next.
    expect(await query<{ n: number }>('SELECT count(*)::int AS n FROM thread_keys')).toEqual([{ n: 1 }])
  })

  it('keeps a transaction to itself and rolls it back whole', async () => {
    const store = await opened
    await query('CREATE TABLE thread_tx (id int)')
    const outside: Promise<unknown>[] = []
    await expect(
      store.db.transaction().execute(async (trx) => {
        await trx.executeQuery(CompiledQuery.raw('INSERT INTO thread_tx VALUES (1)'))
        // Asked for meanwhile by someone else: runs after the transaction, never inside it.
        outside.push(query('INSERT INTO thread_tx VALUES (2)'))
        throw new Error('changed my mind')
      }),
    ).rejects.toThrow('changed my mind')
    await Promise.all(outside)
    expect(await query('SELECT id FROM thread_tx')).toEqual([{ id: 2 }])
  })

  it('forwards notifications to a listener until it stops', async () => {
    const store = await opened
    const heard: string[] = []
    const stop = await store.listen(['thread_news'], (channel, payload) =>
      heard.push(`${channel}:${payload}`),
    )
    await query("SELECT pg_notify('thread_news', 'one')")
    await expect.poll(() => heard).toEqual(['thread_news:one'])
    await stop()
    await query("SELECT pg_notify('thread_news', 'two')")
    await query('SELECT 1')
    expect(heard).toEqual(['thread_news:one'])
  })

  it('refuses queries clearly once closed', async () => {
    const store = await openEmbeddedStore(undefined)
    await store.close()
    await expect(store.db.executeQuery(CompiledQuery.raw('SELECT 1'))).rejects.toThrow(
      /embedded store is closed/,
    )
  })
})
