import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import type { CaseAssignment, CaseSummary, CaseTransition } from '../../../../shared/triage-contract'
import { client, orpc } from '../../api/client'
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
  const next = useMutation({ mutationFn: () => client.triage.cases.next(), ...settle })
  const assign = useMutation({
    mutationFn: (input: CaseAssignment) => client.triage.cases.assign(input),
    ...settle,
  })
  const transition = useMutation({
    mutationFn: (input: CaseTransition) => client.triage.cases.transition(input),
    ...settle,
  })
  const note = useMutation({
    mutationFn: (input: { id: number; text: string }) => client.triage.cases.note(input),
    ...settle,
  })
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
