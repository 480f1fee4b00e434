import { describe, expect, it } from 'vitest'
import type { Store } from '../store/store'
import { watchScoringChanges } from './scoring-changes'

/** A store whose LISTEN fails `failures` times, then holds; it records what the watcher did with it. */
function flakyStore(failures: number) {
  const seen = { attempts: 0, stopped: 0, open: 0 }
  let notify: (() => void) | undefined
  let reconnected: (() => void) | undefined
  const listen: Store['listen'] = async (_channels, onNotify, onReconnect) => {
    seen.attempts++
    await new Promise((resolve) => setTimeout(resolve, 5))
    if (seen.attempts <= failures) throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
    seen.open++
    notify = () => onNotify('aether_scoring', 'lists')
    reconnected = onReconnect
    return async () => {
      seen.stopped++
      seen.open--
    }
  }
  return { listen, seen, notify: () => notify?.(), reconnect: () => reconnected?.() }
}

const until = async (condition: () => boolean) => {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 2000) throw new Error('never happened')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('watchScoringChanges', () => {
  it('tries again until the store answers, then reports each change and each reconnect', async () => {
    const store = flakyStore(2)
    const lines: string[] = []
    let changes = 0
    const watch = watchScoringChanges(
      store.listen,
      () => changes++,
      (line) => lines.push(line),
      10,
    )
    await until(() => store.seen.open === 1)
    expect(store.seen.attempts).toBe(3)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/ECONNREFUSED.*next poll/)
    // Listening started: what was announced before it may be missed, so that counts as a change.
    expect(changes).toBe(1)
    store.notify()
    store.reconnect()
    expect(changes).toBe(3)
    await watch.stop()
    expect(store.seen).toEqual({ attempts: 3, stopped: 1, open: 0 })
  })

  it('leaves nothing listening when stopped while an attempt is under way, and tries no more', async () => {
    const store = flakyStore(0)
    const watch = watchScoringChanges(store.listen, () => {}, undefined, 10)
    await watch.stop()
    expect(store.seen).toEqual({ attempts: 1, stopped: 1, open: 0 })

    const failing = flakyStore(Infinity)
    const stopped = watchScoringChanges(failing.listen, () => {}, undefined, 10)
    await until(() => failing.seen.attempts >= 2)
    await stopped.stop()
    const attempts = failing.seen.attempts
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(failing.seen.attempts).toBe(attempts)
  })
})
