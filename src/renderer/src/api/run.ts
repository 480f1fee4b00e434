import { describeError } from './errors'

/**
 * A run the analyst starts that streams its progress and then its outcome (a dataset import, a console
 * statement, a backtest, a CSV export): the one way the renderer follows one. Each event goes to
 * `onEvent` in order (returning 'stop' ends the run there); a stream that breaks reports why in plain
 * words, unless the caller stopped it on purpose. Resolves true when the run ended without breaking.
 */
export async function followRun<E>(
  open: () => Promise<AsyncIterable<E>>,
  onEvent: (event: E) => void | 'stop',
  onFailure: (message: string) => void,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    for await (const event of await open()) if (onEvent(event) === 'stop') break
    return true
  } catch (error) {
    if (!(signal?.aborted ?? false)) onFailure(describeError(error))
    return false
  }
}
