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

describe('emptyLineNumbers of a file with quoted fields', () => {
  const comma = { delimiter: 0x2c, quote: 0x22 }
  it('counts the lines a quoted field goes on over, and no empty line inside one, whatever the chunks', () => {
    // Rows start on lines 2, 5, 8 and 11; 3, 4 (empty), 6, 7 (a quoted empty line), 9 and 10 start none.
    const text = 'a,b,c\n1,"x\ny",3\n\n2,"p\n\nq",4\n5,"say ""hi""\r\nthere",6\n\n7,ab"c,8\n'
    return Promise.all(
      [1, 2, 3, 7, 1000].map(async (size) =>
        expect(await emptyLineNumbers(chunked(text, size), undefined, comma)).toEqual([3, 4, 6, 7, 9, 10]),
      ),
    )
  })

  it('takes a quote inside an unquoted value as a character, and an escaped quote as inside the field', async () => {
    expect(await emptyLineNumbers(chunked('a,b\n1,12" pipe\n\n2,x\n', 4), undefined, comma)).toEqual([3])
    const escaped = { ...comma, escape: 0x5c }
    expect(await emptyLineNumbers(chunked('a,b\n1,"it\\"s\nmine"\n2,x\n', 3), undefined, escaped)).toEqual([
      3,
    ])
  })

  it('opens a quote after spaces and a byte order mark, as DuckDB does', async () => {
    const text = '\ufeff"a",b\n1, "x\ny",2\n\n3,z\n'
    for (const size of [1, 2, 1000])
      expect(await emptyLineNumbers(chunked(text, size), undefined, comma)).toEqual([3, 4])
  })

  it('numbers by the empty lines alone where a quote never ends', async () => {
    const text = `a,b\n1,"${'x\n'.repeat(1_100_000)}\n\n`
    expect(await emptyLineNumbers(chunked(text, 65_536), undefined, comma)).toEqual([1_100_002, 1_100_003])
  })

  it('reads a file without the quote as before', async () => {
    expect(await emptyLineNumbers(chunked('a,b\n1,x\n\n2,y\n', 2), undefined, comma)).toEqual([3])
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
