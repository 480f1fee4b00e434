import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'

/** The layering rules of ARCHITECTURE.md, proven against the real lint config. */
const eslint = new ESLint({ cwd: process.cwd() })

async function lintAs(filePath: string, code: string) {
  const [result] = await eslint.lintText(code, { filePath })
  return (result?.messages ?? []).map((message) => `${message.ruleId}: ${message.message}`)
}

describe('import boundaries', () => {
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

  it('allows the Electron shell to import electron', async () => {
    expect(
      await lintAs('src/main/index.ts', "import { app } from 'electron'\nexport const x = app\n"),
    ).toEqual([])
  })
})
