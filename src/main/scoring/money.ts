/**
 * Money inside the scorer is integer cents, parsed from the 2-decimal strings transactions carry: sums
 * and limits compare exactly (a Number holds every cent below 90 trillion), and nothing stored is a float.
 */
export function toCents(money: string): number {
  return Math.round(Number(money) * 100)
}

/** 2-decimal string of a cent amount, as transactions carry money: 123456 → "1234.56". */
export function centsToMoney(cents: number): string {
  const sign = cents < 0 ? '-' : ''
  const digits = String(Math.abs(cents)).padStart(3, '0')
  return `${sign}${digits.slice(0, -2)}.${digits.slice(-2)}`
}

/** For reasons an analyst reads: 123456789 → "1,234,567.89". */
export function formatCents(cents: number): string {
  const plain = centsToMoney(cents)
  const dot = plain.length - 3
  return `${plain.slice(0, dot).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${plain.slice(dot)}`
}
