import { seededRandom } from '../../src/main/scoring/generator'

/** A seeded source of test inputs, so a failing run replays with the same seed. */
export function seeded(seed: number) {
  const next = seededRandom(seed)
  return {
    below: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  }
}
