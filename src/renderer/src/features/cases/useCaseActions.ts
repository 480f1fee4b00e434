import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import type { CaseSummary, CaseTransition } from '../../../../shared/triage-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'

/**
 * The triage actions on one case, each sent with the version the analyst is looking at; a refusal (a
 * stale edit, a case now someone else's) is kept as a message until the analyst reloads.
 */
export function useCaseActions() {
  const queryClient = useQueryClient()
  const [problem, setProblem] = useState<string>()
  const settle = {
    onSuccess: () => setProblem(undefined),
    onError: (error: unknown) => setProblem(describeError(error)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: orpc.triage.cases.key() }),
  }
  const next = useMutation(orpc.triage.cases.next.mutationOptions(settle))
  const assign = useMutation(orpc.triage.cases.assign.mutationOptions(settle))
  const transition = useMutation(orpc.triage.cases.transition.mutationOptions(settle))
  const note = useMutation(orpc.triage.cases.note.mutationOptions(settle))
  const pending = next.isPending || assign.isPending || transition.isPending || note.isPending

  return {
    problem,
    clearProblem: () => setProblem(undefined),
    pending,
    next: () => next.mutateAsync().catch(() => null),
    assignToMe: (theCase: CaseSummary, meId: number) =>
      assign
        .mutateAsync({ id: theCase.id, version: theCase.version, assigneeId: meId })
        .catch(() => undefined),
    reassign: (theCase: CaseSummary, assigneeId: number | null, reason: string) =>
      assign
        .mutateAsync({ id: theCase.id, version: theCase.version, assigneeId, reason })
        .catch(() => undefined),
    escalate: (theCase: CaseSummary) =>
      transition
        .mutateAsync({ id: theCase.id, version: theCase.version, status: 'escalated' })
        .catch(() => undefined),
    review: (theCase: CaseSummary) =>
      transition
        .mutateAsync({ id: theCase.id, version: theCase.version, status: 'in_review' })
        .catch(() => undefined),
    resolve: (input: CaseTransition) => transition.mutateAsync(input).catch(() => undefined),
    addNote: (id: number, text: string) =>
      note.mutateAsync({ id, text }).then(
        () => true,
        () => false,
      ),
  }
}

export type CaseActions = ReturnType<typeof useCaseActions>
