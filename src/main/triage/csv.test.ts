import { describe, expect, it } from 'vitest'
import { csvCell } from './transactions'

describe('CSV cells of an export', () => {
  it('quotes separators, quotes and line breaks as RFC 4180 says', () => {
    expect(csvCell('C1, the "big" one\nnext')).toBe('"C1, the ""big"" one\nnext"')
    expect(csvCell('C1231006815')).toBe('C1231006815')
    expect(csvCell(42)).toBe('42')
    expect(csvCell(null)).toBe('')
  })

  it('defuses text a spreadsheet would run as a formula', () => {
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`)
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)")
    expect(csvCell('-12.50')).toBe("'-12.50")
  })
})
