/**
 * Validation messages in an analyst's words. The schemas' own messages ("say why it is listed") pass
 * through, capitalised; zod's defaults ("Too small: expected string to have >=1 characters") are
 * rewritten, whether the issue came from a form's own check or back from the main process.
 */

const FORMAT_NAMES: Record<string, string> = {
  uuid: 'ID',
  email: 'e-mail address',
  url: 'web address',
  ipv4: 'IP address',
  ipv6: 'IP address',
  datetime: 'date and time',
  regex: 'value',
}

const count = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`

function fromDefault(message: string): string | undefined {
  let match = /^Too small: expected string to have >=?(\d+) characters?/.exec(message)
  if (match)
    return Number(match[1]) <= 1
      ? 'This is required.'
      : `Enter at least ${count(Number(match[1]), 'character')}.`
  match = /^Too big: expected string to have <=?(\d+) characters?/.exec(message)
  if (match) return `Keep it to ${count(Number(match[1]), 'character')}.`
  match = /^Too small: expected (?:number|int|bigint) to be (>=|>)\s*(-?[\d.]+)/.exec(message)
  if (match) return match[1] === '>=' ? `The lowest allowed is ${match[2]}.` : `It must be above ${match[2]}.`
  match = /^Too big: expected (?:number|int|bigint) to be (<=|<)\s*(-?[\d.]+)/.exec(message)
  if (match)
    return match[1] === '<=' ? `The highest allowed is ${match[2]}.` : `It must be below ${match[2]}.`
  match = /^Too small: expected array to have >=?(\d+) items?/.exec(message)
  if (match) return `Choose at least ${count(Number(match[1]), 'item')}.`
  match = /^Too big: expected array to have <=?(\d+) items?/.exec(message)
  if (match) return `Choose at most ${count(Number(match[1]), 'item')}.`
  match = /^Invalid input: expected (\w+), received (\w+)/.exec(message)
  if (match) {
    if (match[2] === 'undefined' || match[2] === 'null') return 'This is required.'
    if (match[1] === 'number' || match[1] === 'int') return 'Enter a number.'
    return 'This value is not valid here.'
  }
  match = /^Invalid (?:string: must match pattern|input: expected) ?(.*)/.exec(message)
  if (match && /^Invalid input/.test(message)) return 'This value is not one of the choices.'
  match = /^Invalid ([A-Za-z0-9]+)/.exec(message)
  if (match?.[1] !== undefined) {
    const name = FORMAT_NAMES[match[1].toLowerCase()]
    return name === undefined ? 'This value is not valid here.' : `This is not a valid ${name}.`
  }
  if (/^Expected number, received nan/i.test(message)) return 'Enter a number.'
  if (/^Unrecognized key/.test(message)) return 'This form sent a field the workstation does not know.'
  return undefined
}

/** One issue's message as the analyst should read it. */
export function plainMessage(message: string): string {
  const rewritten = fromDefault(message)
  if (rewritten !== undefined) return rewritten
  const text = message.trim()
  return text === '' ? 'This value is not valid here.' : text.charAt(0).toUpperCase() + text.slice(1)
}

/** A field's key ("counterparty_id", "expiresAt") as words: "Counterparty id", "Expires at". */
export function fieldWords(key: unknown): string {
  const text = String(key)
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replaceAll('_', ' ')
    .toLowerCase()
  return text.charAt(0).toUpperCase() + text.slice(1)
}
