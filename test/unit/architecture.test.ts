import { ESLint } from 'eslint'
import { beforeAll, describe, expect, it } from 'vitest'

/** The layering rules of docs/architecture.md, proven against the real lint config. */
const eslint = new ESLint({ cwd: process.cwd() })

async function lintAs(filePath: string, code: string) {
  const [result] = await eslint.lintText(code, { filePath })
  return (result?.messages ?? []).map((message) => `${message.ruleId}: ${message.message}`)
}

describe('import boundaries', () => {
  // The first lint loads the TypeScript projects for the import resolver: seconds on a busy machine.
  beforeAll(() => lintAs('src/main/core/warm-up.ts', 'export const warm = 1\n'), 60_000)

  it('refuses electron in main/core', async () => {
    const messages = await lintAs(
      'src/main/core/new-service.ts',
      "import { app } from 'electron'\nexport const x = app\n",
    )
    expect(messages.join('\n')).toMatch(/no-restricted-imports: 'electron' import is restricted/)
  })

  it('refuses src/main in the renderer', async () => {
    const messages = await lintAs(
      'src/renderer/src/features/settings/Leak.ts',
      "import { Workstation } from '../../../../main/core/workstation'\nexport const y = Workstation\n",
    )
    expect(messages.join('\n')).toMatch(/no-restricted-paths/)
  })

  it('refuses Node in src/shared', async () => {
    const messages = await lintAs(
      'src/shared/leak.ts',
      "import { readFileSync } from 'node:fs'\nexport const z = readFileSync\n",
    )
    expect(messages.join('\n')).toMatch(/no-restricted-imports/)
  })

  it('refuses core/ in a feature: features take a narrow scope from the composition root', async () => {
    for (const feature of ['triage', 'analysis', 'security', 'pipeline', 'store', 'secrets']) {
      const messages = await lintAs(
        `src/main/${feature}/new-feature.ts`,
        "import type { Workstation } from '../core/workstation'\nexport type W = Workstation\n",
      )
      expect(messages.join('\n'), feature).toMatch(/no-restricted-paths: .*Features never import core\//)
    }
  })

  it('refuses triage in analysis', async () => {
    const messages = await lintAs(
      'src/main/analysis/new-analysis.ts',
      "import { saveRules } from '../triage/rules'\nexport const s = saveRules\n",
    )
    expect(messages.join('\n')).toMatch(/no-restricted-paths: .*Analysis never imports triage/)
  })

  it('keeps scoring pure: no triage, store or other I/O layer', async () => {
    for (const layer of ['triage/rules', 'store/store', 'security/sessions']) {
      const messages = await lintAs(
        'src/main/scoring/new-rule.ts',
        `import * as leak from '../${layer}'\nexport const l = leak\n`,
      )
      expect(messages.join('\n'), layer).toMatch(/no-restricted-paths: .*Scoring is pure/)
    }
  })

  it('refuses one renderer feature importing another: shared pieces live in ui/ and app/', async () => {
    const messages = await lintAs(
      'src/renderer/src/features/cases/NewView.tsx',
      "import { formatBytes } from '../datasets/format'\nexport const f = formatBytes\n",
    )
    expect(messages.join('\n')).toMatch(/no-restricted-paths: .*A renderer feature never imports another/)
    expect(
      await lintAs(
        'src/renderer/src/features/cases/NewView.tsx',
        "import { formatMoney } from '../../ui/format'\nimport { CasesPage } from './CasesPage'\nexport const f = [formatMoney, CasesPage]\n",
      ),
    ).toEqual([])
  })

  it('keeps ui/ free of features and app state', async () => {
    const messages = await lintAs(
      'src/renderer/src/ui/NewPiece.tsx',
      "import { openCase } from '../app/selection'\nexport const o = openCase\n",
    )
    expect(messages.join('\n')).toMatch(/no-restricted-paths: .*ui\/ holds shared pieces only/)
  })

  it('allows the composition root to import the features it composes', async () => {
    expect(
      await lintAs(
        'src/main/core/new-root.ts',
        "import { createTriageRouter } from '../triage/router'\nexport const t = createTriageRouter\n",
      ),
    ).toEqual([])
  })

  it('allows the Electron shell to import electron', async () => {
    expect(
      await lintAs('src/main/index.ts', "import { app } from 'electron'\nexport const x = app\n"),
    ).toEqual([])
  })
})
