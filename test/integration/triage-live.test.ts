import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { userInfo } from 'node:os'
import { createRouterClient } from '@orpc/server'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRouter } from '../../src/main/core/router'
import { liveFeed } from '../../src/main/triage/live'
import { setWebhook } from '../../src/main/triage/webhook'
import { WebhookPoster } from '../../src/main/triage/webhook-poster'
import type { LiveEvent } from '../../src/shared/triage-contract'
import { SHARED_REDIS_URL } from '../support/services'
import { openTestWorkstation, type TestWorkstation } from '../support/workstation'
import { openTeamDatabase, reason, seedScored, type SignedIn, type TeamDatabase } from '../support/triage'

/** Collects live events until `enough` says so; the abort ends the subscription as a closed window does. */
async function collect(events: AsyncIterable<LiveEvent>, enough: (seen: LiveEvent[]) => boolean) {
  const seen: LiveEvent[] = []
  for await (const event of events) {
    seen.push(event)
    if (enough(seen)) break
  }
  return seen
}

const alertsIn = (events: LiveEvent[]) => events.filter((event) => event.kind === 'alert')

/** Waits for the subscription's first event, which says the LISTEN is up. */
async function listening(feed: AsyncIterator<LiveEvent>) {
  const first = await feed.next()
  expect(first.value).toEqual({ kind: 'listening' })
  return feed
}

const rest = (feed: AsyncIterator<LiveEvent>, alerts: number) =>
  collect({ [Symbol.asyncIterator]: () => feed }, (seen) => alertsIn(seen).length >= alerts)

describe('live alerts on a team database', () => {
  let team: TeamDatabase
  let alice: SignedIn
  let bob: SignedIn
  let receiver: Server
  const posts: { text: string }[] = []

  beforeAll(async () => {
    team = await openTeamDatabase()
    alice = await team.signIn('analyst', 'Alice')
    bob = await team.signIn('analyst', 'Bob')
    receiver = createServer((request: IncomingMessage, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => (body += chunk.toString()))
      request.on('end', () => {
        posts.push(JSON.parse(body) as { text: string })
        response.writeHead(200).end('ok')
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  })

  afterAll(async () => {
    await new Promise((resolve) => receiver?.close(resolve))
    await team?.dispose()
  })

  it('tells every open workstation of new alerts; the team webhook gets each block once, from the worker side', async () => {
    const { port } = receiver.address() as AddressInfo
    await setWebhook(team.owner.db, { url: `http://127.0.0.1:${port}/hook` })
    // What every `aether worker` runs; the open workstations post nothing themselves.
    const poster = new WebhookPoster({ db: team.owner.db, holder: 'worker', pollMs: 100 })
    await poster.start()

    const abort = new AbortController()
    const feeds = await Promise.all(
      [alice, bob].map((who) => listening(liveFeed(who.store).follow(abort.signal))),
    )

    await seedScored(team.owner, [
      { userId: 'C-live', decision: 'review', amount: '75.00' },
      { userId: 'C-live', decision: 'approve' },
      {
        userId: 'C-live',
        decision: 'block',
        amount: '9839.64',
        reasons: [reason('balance_drain', 'empties the account')],
      },
    ])
    const seenByEach = await Promise.all(feeds.map((feed) => rest(feed, 2)))
    abort.abort()
    expect(seenByEach).toHaveLength(2)
    for (const seen of seenByEach) {
      const alerts = alertsIn(seen)
      expect(alerts.map((alert) => alert.decision)).toEqual(['review', 'block'])
      expect(alerts.every((alert) => alert.userId === 'C-live' && alert.caseId !== null)).toBe(true)
      expect(alerts[1]?.reasons[0]?.text).toBe('empties the account')
    }
    const delivered = () =>
      team.owner.db.selectFrom('webhook_deliveries').select(['status', 'error']).execute()
    await expect.poll(delivered).toEqual([{ status: 200, error: null }])
    await poster.stop()
    expect(posts).toEqual([
      {
        text: expect.stringMatching(
          /Blocked 9,839\.64 from C-live, score 90 \(case #\d+\): empties the account/,
        ),
      },
    ])
  })

  it('shows an alert whose batch commits after a later-numbered one stored before it began listening', async () => {
    // Two workers' batches: the first takes its alert id, the second takes the next and commits first.
    let commitLate = () => {}
    const late = new Promise<void>((resolve) => (commitLate = resolve))
    let idTaken = () => {}
    const taken = new Promise<void>((resolve) => (idTaken = resolve))
    const lateBatch = team.owner.db.transaction().execute(async (trx) => {
      const id = randomUUID()
      await sql`INSERT INTO transactions (txn_id, ts, user_id, counterparty_id, type, amount, currency,
                                          score, decision, reasons, model_version, rules_version)
                VALUES (${id}, now(), 'C-late', 'M1', 'TRANSFER', '310.00', 'USD',
                        55, 'review', '[]'::jsonb, 'test', 1)`.execute(trx)
      await sql`INSERT INTO alerts (txn_id, score, decision, reasons)
                VALUES (${id}, 55, 'review', '[]'::jsonb)`.execute(trx)
      idTaken()
      await late
    })
    await taken
    await seedScored(team.owner, [{ userId: 'C-early', decision: 'review' }])

    // Given up after 10 s: a feed that skips the alert ends with nothing instead of timing the test out.
    const abort = new AbortController()
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(10_000)])
    const feed = await listening(liveFeed(alice.store).follow(signal))
    commitLate()
    await lateBatch
    const seen = await rest(feed, 1)
    abort.abort()
    // C-early's alert was stored before listening began: only the late one is news.
    expect(alertsIn(seen).map((alert) => alert.kind === 'alert' && alert.userId)).toEqual(['C-late'])
  })
})

describe('triage through the contract in Local mode', () => {
  let opened: TestWorkstation

  beforeAll(async () => {
    opened = await openTestWorkstation()
    await opened.workstation.start()
  })

  afterAll(async () => {
    await opened?.dispose()
  })

  it('triages as the computer’s user, with alerts live from the embedded store', async () => {
    const client = createRouterClient(createRouter(opened.workstation))
    const me = await client.triage.me()
    expect(me).toMatchObject({ displayName: userInfo().username, role: 'admin' })

    const abort = new AbortController()
    const events = await listening(await client.triage.live(undefined, { signal: abort.signal }))
    await seedScored(opened.workstation.requireStore(), [
      { userId: 'C-local', decision: 'block', amount: '500.00' },
    ])
    const seen = await rest(events, 1)
    abort.abort()
    expect(alertsIn(seen)[0]).toMatchObject({ userId: 'C-local', decision: 'block' })

    const next = await client.triage.cases.next()
    expect(next).toMatchObject({
      userId: 'C-local',
      status: 'in_review',
      assignee: { displayName: me.displayName },
    })
    if (next === null) throw new Error('no case')
    await client.triage.cases.note({ id: next.id, text: 'looked at it' })
    const stale = client.triage.cases.transition({
      id: next.id,
      version: next.version - 1,
      status: 'escalated',
    })
    await expect(stale).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/reload/) })
    const closed = await client.triage.cases.transition({
      id: next.id,
      version: next.version,
      status: 'closed',
      outcome: 'fraud_confirmed',
      blocklist: { user: true },
    })
    expect(closed.status).toBe('closed')
    expect(await client.triage.lists.list({ kind: 'user' })).toEqual([
      expect.objectContaining({ value: 'C-local', reason: expect.stringMatching(/confirmed as fraud/) }),
    ])

    // The feedback loop: the user's next transaction, typed in, goes through the pipeline and is blocked.
    const submitted = await client.triage.transactions.submit({
      txn_id: randomUUID(),
      ts: new Date().toISOString(),
      user_id: 'C-local',
      counterparty_id: 'M-shop',
      type: 'PAYMENT',
      amount: '12.50',
      currency: 'USD',
    })
    expect(submitted.route).toBe('local')
    const blocked = await client.triage.transactions.detail({ txnId: submitted.txnId })
    expect(blocked.transaction.decision).toBe('block')
    expect(blocked.transaction.reasons.map((r) => r.rule)).toContain('blocklist')

    const detail = await client.triage.cases.get({ id: next.id })
    expect(
      detail.events.filter((event) => event.action !== 'opened').map((event) => event.actorName),
    ).toEqual(Array(4).fill(me.displayName))
  })

  it('ends the live stream when the workstation switches to another store, so the window follows the new one', async () => {
    const team = await openTeamDatabase()
    try {
      const client = createRouterClient(createRouter(opened.workstation))
      const events = await listening(await client.triage.live())
      const profile = await opened.workstation.profiles.create({
        name: 'Team',
        postgresUrl: team.database.url,
        redisUrl: SHARED_REDIS_URL,
      })
      await opened.workstation.activate(profile.id)
      expect(await events.next()).toEqual({ done: true, value: undefined })
      const followed = await listening(await client.triage.live())
      await seedScored(team.owner, [{ userId: 'C-after-switch', decision: 'review' }])
      expect(alertsIn(await rest(followed, 1))[0]).toMatchObject({ userId: 'C-after-switch' })
      await followed.return?.(undefined)
    } finally {
      await opened.workstation.activate('local')
      await team.dispose()
    }
  })
})
