import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { createORPCClient, isDefinedError, ORPCError } from '@orpc/client'
import { RPCLink } from '@orpc/client/message-port'
import type { ContractRouterClient } from '@orpc/contract'
import { RPCHandler } from '@orpc/server/message-port'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRouter } from '../../src/main/core/router'
import type { Contract } from '../../src/shared/contract'
import { seedScored } from '../support/triage'
import { openTestWorkstation, type TestWorkstation } from '../support/workstation'

let opened: TestWorkstation
let port: MessagePort
let client: ContractRouterClient<Contract>

// The real router over the Electron transport: what the renderer receives is what a test here receives.
beforeAll(async () => {
  opened = await openTestWorkstation()
  await opened.workstation.start()
  const { port1, port2 } = new MessageChannel()
  new RPCHandler(createRouter(opened.workstation)).upgrade(port2)
  port2.start()
  client = createORPCClient(new RPCLink({ port: port1 }))
  port1.start()
  port = port1
})

afterAll(async () => {
  port?.close()
  await opened?.dispose()
})

const failure = (call: Promise<unknown>) =>
  call.then(
    () => {
      throw new Error('the call was expected to be refused')
    },
    (caught: unknown) => caught,
  )

describe('refusals reach the client as the typed errors the contract declares', () => {
  it('a domain refusal of the input (BAD_REQUEST) comes with its reason', async () => {
    await seedScored(opened.workstation.requireStore(), [{ userId: 'C-refused', decision: 'block' }])
    const taken = await client.triage.cases.next()
    if (taken === null) throw new Error('the seeded alert opened no case')

    const error = await failure(
      client.triage.cases.assign({ id: taken.id, version: taken.version, assigneeId: 999_999 }),
    )

    expect(isDefinedError(error)).toBe(true)
    expect(error).toMatchObject({
      code: 'BAD_REQUEST',
      message: 'Analyst 999999 does not exist or is disabled.',
    })
  })

  it("the contract's own validation (BAD_REQUEST) is declared too, its issues naming the field", async () => {
    const error = await failure(client.profiles.activate({ id: '' }))

    expect(isDefinedError(error)).toBe(true)
    const issues = (error as ORPCError<'BAD_REQUEST', { issues: { path: string[] }[] }>).data.issues
    expect(issues.map((issue) => issue.path.join('.'))).toEqual(['id'])
  })

  it('a refusal while streaming ends the stream with the typed error', async () => {
    const events = await client.datasets.sql({ datasetId: '0123456789abcdef', sql: 'SELECT 1' })

    const error = await failure(
      (async () => {
        for await (const event of events) void event
      })(),
    )

    expect(isDefinedError(error)).toBe(true)
    expect(error).toBeInstanceOf(ORPCError)
    expect((error as ORPCError<string, unknown>).code).toBe('NOT_FOUND')
  })
})
