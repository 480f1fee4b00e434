import { describe, expect, it } from 'vitest'
import { emptyLineNumbers, firstLongLine, linesAtBytes } from './csv-lines'

/** The text cut into chunks of `size` bytes, as a file stream would give it. */
const chunked = (text: string, size: number) => () =>
  (async function* () {
    const bytes = Buffer.from(text)
    for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size)
  })()

describe('emptyLineNumbers', () => {
  const text = 'a,b\n1,x\n\n2,y\r\n\r\n   \n\n\n3,z\n\n'
  it('numbers the empty lines after the header, LF and CRLF, whatever the chunks', () =>
    Promise.all(
      [1, 2, 3, 5, 1000].map(async (size) =>
        expect(await emptyLineNumbers(chunked(text, size))).toEqual([3, 5, 7, 8, 10]),
      ),
    ))

  it('finds none in a file without, and none in a header-only file', async () => {
    expect(await emptyLineNumbers(chunked('a,b\n1,x\r\n2,y\n', 2))).toEqual([])
    expect(await emptyLineNumbers(chunked('a,b\n', 1))).toEqual([])
    expect(await emptyLineNumbers(chunked('', 1))).toEqual([])
  })
})

describe('linesAtBytes', () => {
  it('gives the line starting at a byte, or just after the line feed the byte is', async () => {
    const text = 'a,b\r\n1,x\r\nbad\r\n2,y\n\nworse\nlast'
    const at = (needle: string, shift = 0) => Buffer.from(text).indexOf(needle) + shift
    const positions = [at('bad'), at('bad', -1), at('worse'), at('last'), at('1,x')]
    for (const size of [1, 3, 1000]) {
      const lines = await linesAtBytes(chunked(text, size), positions)
      expect(positions.map((position) => lines.get(position))).toEqual([3, 3, 6, 7, 2])
    }
  })
})

describe('firstLongLine', () => {
  it('names the first line over the limit and its length without the line ending, whatever the chunks', () =>
    Promise.all(
      [1, 2, 3, 7, 1000].map(async (size) => {
        expect(await firstLongLine(chunked('a,b\n1,x\n123456\r\n1234567\n', size), 5)).toEqual({
          line: 3,
          bytes: 6,
        })
        // The last line, with no line feed after it.
        expect(await firstLongLine(chunked('a,b\n1,x\n123456', size), 5)).toEqual({ line: 3, bytes: 6 })
        expect(await firstLongLine(chunked('a,b\n12345\r\n12345', size), 5)).toBeUndefined()
      }),
    ))
})
