import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { describeRule, describeRuleChange, type RuleSet } from '../../../../shared/rules'
import type { RulePrecision, RuleVersion } from '../../../../shared/triage-contract'
import { orpc } from '../../api/client'
import { describeError } from '../../api/errors'
import { EmptyState } from '../../app/EmptyState'
import { ErrorState } from '../../app/ErrorState'
import { LoadingSkeleton } from '../../app/LoadingSkeleton'
import { Page } from '../../app/Page'
import { formatTimeZoned, timeTitle } from '../../ui/format'
import { ruleSetProblems } from '../../ui/rule-set-problems'
import { useMayAdminister } from '../../app/useMayAdminister'

const percent = (value: number | null) => (value === null ? '–' : `${Math.round(value * 100)} %`)

function Editor({
  current,
  precision,
  onSaved,
  readOnly,
}: {
  current: RuleVersion
  precision: RulePrecision[]
  onSaved: () => void
  /** Analysts and supervisors of a team read the rules; admins change them. */
  readOnly: boolean
}) {
  const [draft, setDraft] = useState<RuleSet>(current.definition)
  const [comment, setComment] = useState('')
  const save = useMutation(
    orpc.triage.rules.save.mutationOptions({
      onSuccess: () => {
        setComment('')
        onSaved()
      },
    }),
  )
  const byRule = new Map(precision.map((p) => [p.rule, p]))
  const problems = ruleSetProblems(draft)
  const changes = problems.length === 0 ? describeRuleChange(current.definition, draft) : []
  const threshold = (level: 'review' | 'block', value: string) =>
    setDraft({ ...draft, thresholds: { ...draft.thresholds, [level]: Number(value) } })
  const patchRule = (index: number, patch: { enabled?: boolean; weight?: number }) =>
    setDraft({ ...draft, rules: draft.rules.map((rule, i) => (i === index ? { ...rule, ...patch } : rule)) })

  return (
    <form
      className="rules-editor"
      onSubmit={(event) => {
        event.preventDefault()
        save.mutate({ baseVersion: current.version, definition: draft, comment })
      }}
      data-testid="rules-editor"
    >
      <div className="thresholds">
        <label>
          Review at score
          <input
            type="number"
            min={1}
            max={100}
            value={draft.thresholds.review}
            onChange={(e) => threshold('review', e.target.value)}
            disabled={readOnly}
            data-testid="threshold-review"
          />
        </label>
        <label>
          Block at score
          <input
            type="number"
            min={1}
            max={100}
            value={draft.thresholds.block}
            onChange={(e) => threshold('block', e.target.value)}
            disabled={readOnly}
            data-testid="threshold-block"
          />
        </label>
      </div>
      <table className="mini-table rules-table">
        <thead>
          <tr>
            <th>On</th>
            <th>Rule</th>
            <th>Fires when</th>
            <th className="num">Weight</th>
            <th className="num" title="Confirmed fraud over judged alerts, from analysts' outcomes">
              Precision
            </th>
            <th className="num">Judged</th>
          </tr>
        </thead>
        <tbody>
          {draft.rules.map((rule, index) => {
            const p = byRule.get(rule.id)
            return (
              <tr key={rule.id} data-testid={`rule-${rule.id}`}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Enable ${rule.id}`}
                    checked={rule.enabled}
                    onChange={(e) => patchRule(index, { enabled: e.target.checked })}
                    disabled={readOnly}
                  />
                </td>
                <td className="mono">{rule.id}</td>
                <td className="wrap">{describeRule(rule)}</td>
                <td className="num">
                  <input
                    type="number"
                    className="narrow"
                    min={0}
                    max={100}
                    aria-label={`Weight of ${rule.id}`}
                    value={rule.weight}
                    onChange={(e) => patchRule(index, { weight: Number(e.target.value) })}
                    disabled={readOnly}
                  />
                </td>
                <td className="num" data-testid={`precision-${rule.id}`}>
                  {percent(p?.precision ?? null)}
                </td>
                <td className="num">{p ? p.confirmed + p.falsePositive : 0}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
      {readOnly ? (
        <p className="subtle" data-testid="rules-admins-only">
          The team’s admins change the rules; Datasets → Backtest tries a change on PaySim data.
        </p>
      ) : (
        <div className="form-actions">
          <input
            className="comment"
            placeholder="What and why (saved with the version)"
            aria-label="Comment"
            value={comment}
            maxLength={500}
            onChange={(e) => setComment(e.target.value)}
          />
          <button
            type="submit"
            className="button primary"
            disabled={save.isPending || problems.length > 0 || changes.length === 0}
            title={
              changes.length === 0 && problems.length === 0 ? 'Change a threshold or a rule first' : undefined
            }
            data-testid="save-rules"
          >
            Save as version {current.version + 1}
          </button>
          <span
            role="status"
            className={save.isError || problems.length > 0 ? 'inline-error' : 'subtle'}
            data-testid="rules-status"
          >
            {problems.length > 0
              ? problems.join(' ')
              : save.isError
                ? describeError(save.error)
                : save.isSuccess
                  ? `Saved version ${save.data.version}; running workers pick it up within seconds.`
                  : changes.length === 0
                    ? 'No change to save yet.'
                    : `Changes: ${changes.join('; ')}.`}
          </span>
        </div>
      )}
    </form>
  )
}

function History({
  versions,
  onReverted,
  readOnly,
}: {
  versions: RuleVersion[]
  onReverted: () => void
  readOnly: boolean
}) {
  const [confirming, setConfirming] = useState<number>()
  const latest = versions[0]
  const revert = useMutation(
    orpc.triage.rules.revert.mutationOptions({
      onSuccess: () => {
        setConfirming(undefined)
        onReverted()
      },
    }),
  )
  return (
    <ol className="versions" data-testid="rule-versions">
      {revert.isError && <li className="inline-error">{describeError(revert.error)}</li>}
      {versions.map((v) => (
        <li key={v.version} data-testid={`rule-version-${v.version}`}>
          <div className="version-head">
            <strong>v{v.version}</strong>
            <span>{v.author}</span>
            <span className="subtle" title={timeTitle(v.createdAt)}>
              {v.author === 'built-in' ? '' : `saved ${formatTimeZoned(v.createdAt)}`}
            </span>
            <span className="version-comment">{v.comment}</span>
            {!readOnly &&
              v.version !== latest?.version &&
              (confirming === v.version ? (
                <span className="confirm">
                  Save a new version equal to v{v.version}?
                  <button
                    type="button"
                    className="button primary"
                    onClick={() =>
                      revert.mutate({ version: v.version, baseVersion: latest?.version ?? null })
                    }
                  >
                    Revert
                  </button>
                  <button type="button" className="button" onClick={() => setConfirming(undefined)}>
                    Keep
                  </button>
                </span>
              ) : (
                <button type="button" className="button" onClick={() => setConfirming(v.version)}>
                  Revert to this version
                </button>
              ))}
          </div>
          {v.changes.length > 0 && (
            <ul className="changes">
              {v.changes.map((change) => (
                <li key={change}>{change}</li>
              ))}
            </ul>
          )}
        </li>
      ))}
    </ol>
  )
}

export function RulesPage() {
  const queryClient = useQueryClient()
  const versions = useQuery(orpc.triage.rules.versions.queryOptions())
  const precision = useQuery(orpc.triage.rules.precision.queryOptions())
  const refresh = () => void queryClient.invalidateQueries({ queryKey: orpc.triage.rules.key() })
  const latest = versions.data?.[0]
  const mayAdminister = useMayAdminister()
  return (
    <Page title="Rules">
      {versions.isPending ? (
        <LoadingSkeleton label="Loading the rule versions" rows={8} />
      ) : versions.isError ? (
        <ErrorState
          title="Rules could not be loaded"
          message={describeError(versions.error)}
          onRetry={() => void versions.refetch()}
        />
      ) : latest === undefined ? (
        <EmptyState title="No rules">
          The pipeline scores with the built-in rules until a version is saved.
        </EmptyState>
      ) : (
        <>
          <section className="panel wide-panel" aria-labelledby="rules-current">
            <h2 id="rules-current">Rules in force: version {latest.version}</h2>
            <Editor
              key={latest.version}
              current={latest}
              precision={precision.data ?? []}
              onSaved={refresh}
              readOnly={!mayAdminister}
            />
          </section>
          <section className="panel wide-panel" aria-labelledby="rules-history">
            <h2 id="rules-history">History</h2>
            <History versions={versions.data} onReverted={refresh} readOnly={!mayAdminister} />
          </section>
        </>
      )}
    </Page>
  )
}
