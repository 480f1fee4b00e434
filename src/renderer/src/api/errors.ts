import { ORPCError } from '@orpc/client'
import { z } from 'zod'
import { fieldWords, plainMessage } from './plain-issues'

const ValidationData = z.object({
  issues: z.array(z.object({ message: z.string(), path: z.array(z.unknown()).optional() })),
})
export type ValidationIssue = z.infer<typeof ValidationData>['issues'][number]

/** The issues of an input validation failure (BAD_REQUEST with data.issues), or none for any other error. */
export function validationIssues(error: unknown): ValidationIssue[] {
  if (!(error instanceof ORPCError) || error.code !== 'BAD_REQUEST') return []
  const parsed = ValidationData.safeParse(error.data)
  return parsed.success ? parsed.data.issues : []
}

/** One readable sentence for any failure: stacks and internals never reach the analyst. */
export function describeError(error: unknown): string {
  const issues = validationIssues(error)
  if (issues.length > 0)
    return `Some values were refused: ${issues
      .map((issue) => {
        const field = issue.path?.filter((part) => typeof part === 'string').at(-1)
        const message = plainMessage(issue.message)
        return field === undefined
          ? message
          : `${fieldWords(field)}: ${message.charAt(0).toLowerCase()}${message.slice(1)}`
      })
      .join(' ')}`
  if (error instanceof Error && error.message.trim() !== '') return error.message
  return 'Something went wrong, and the workstation gave no reason.'
}
