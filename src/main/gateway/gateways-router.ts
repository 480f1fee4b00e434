import { implement } from '@orpc/server'
import type { Redis } from 'ioredis'
import type { AppMode } from '../../shared/contract'
import { gatewaysContract, type GatewaysView } from '../../shared/gateway-contract'
import { readGateways } from './registry'

const os = implement(gatewaysContract)

const EVERY_MS = 2000

/** What the Dashboard's gateways panel needs of the active profile. */
export interface GatewaysScope {
  storeMode(): AppMode
  /**
   * The team Redis the workstation's pipeline uses, with the streams' key prefix; a reason instead when
   * there is none (Local mode, or the pipeline could not start).
   */
  teamStreams(): { redis: Redis; prefix: string } | { reason: string }
}

/** The gateways that reported in the last minute (gateway/registry.ts), as the Dashboard shows them. */
export async function gatewaysView(scope: GatewaysScope): Promise<GatewaysView> {
  const updatedAt = new Date().toISOString()
  if (scope.storeMode() !== 'team') return { mode: 'local', gateways: [], updatedAt }
  const streams = scope.teamStreams()
  if ('reason' in streams) return { mode: 'team', gateways: [], message: streams.reason, updatedAt }
  try {
    return { mode: 'team', gateways: await readGateways(streams.redis, streams.prefix), updatedAt }
  } catch (error) {
    const reason =
      (error as Error).name === 'MaxRetriesPerRequestError' ? 'it is not reachable' : (error as Error).message
    return {
      mode: 'team',
      gateways: [],
      message: `The gateways could not be read from the team Redis: ${reason}.`,
      updatedAt,
    }
  }
}

/** What a change is: anything but the moments of reading (a gateway's seenAt moves every second). */
const changeKey = (view: GatewaysView) =>
  JSON.stringify({ ...view, updatedAt: '', gateways: view.gateways.map((g) => ({ ...g, seenAt: '' })) })

export function createGatewaysRouter(scope: GatewaysScope) {
  return os.router({
    list: os.list.handler(() => gatewaysView(scope)),
    watch: os.watch.handler(async function* ({ signal }) {
      let previous = ''
      while (!(signal?.aborted ?? false)) {
        const view = await gatewaysView(scope)
        const key = changeKey(view)
        if (key !== previous) {
          previous = key
          yield view
        }
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer)
            signal?.removeEventListener('abort', done)
            resolve()
          }
          const timer = setTimeout(done, EVERY_MS)
          signal?.addEventListener('abort', done, { once: true })
        })
      }
    }),
  })
}
