import { TeamProfileDraft, type TeamProfile } from '../../../../shared/profile'
import { plainMessage } from '../../api/plain-issues'

export const DRAFT_FIELDS = ['name', 'postgresUrl', 'postgresPassword', 'redisUrl', 'redisPassword'] as const
export type DraftField = (typeof DRAFT_FIELDS)[number]
export type DraftValues = Record<DraftField, string>
export type FieldErrors = Partial<Record<DraftField, string>>

/** Passwords are never sent back to the renderer, so an edit starts with them blank. */
export function draftValuesOf(profile: TeamProfile | undefined): DraftValues {
  return {
    name: profile?.name ?? '',
    postgresUrl: profile?.postgresUrl ?? '',
    postgresPassword: '',
    redisUrl: profile?.redisUrl ?? '',
    redisPassword: '',
  }
}

function isDraftField(segment: unknown): segment is DraftField {
  return DRAFT_FIELDS.some((field) => field === segment)
}

function pathKey(segment: unknown): unknown {
  return typeof segment === 'object' && segment !== null && 'key' in segment ? segment.key : segment
}

/** Works for zod issues and for the server's, whose paths may start with 'draft'. */
export function fieldErrorsFrom(
  issues: readonly { path?: readonly unknown[]; message: string }[],
): FieldErrors {
  const errors: FieldErrors = {}
  for (const issue of issues) {
    const field = issue.path?.map(pathKey).find(isDraftField)
    if (field && !errors[field]) errors[field] = plainMessage(issue.message)
  }
  return errors
}

export type ParsedDraft = { ok: true; draft: TeamProfileDraft } | { ok: false; errors: FieldErrors }

/** A blank password is left out: on a new profile that means none, on an edit it keeps the saved one. */
export function parseDraft(values: DraftValues): ParsedDraft {
  const result = TeamProfileDraft.safeParse({
    name: values.name,
    postgresUrl: values.postgresUrl,
    redisUrl: values.redisUrl,
    postgresPassword: values.postgresPassword === '' ? undefined : values.postgresPassword,
    redisPassword: values.redisPassword === '' ? undefined : values.redisPassword,
  })
  return result.success
    ? { ok: true, draft: result.data }
    : { ok: false, errors: fieldErrorsFrom(result.error.issues) }
}
