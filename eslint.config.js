import js from '@eslint/js'
import { readdirSync } from 'node:fs'
import prettier from 'eslint-config-prettier'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import importX from 'eslint-plugin-import-x'
import reactHooks from 'eslint-plugin-react-hooks'
import globals from 'globals'
import tseslint from 'typescript-eslint'

/**
 * The architecture as lint rules (docs/architecture.md): imports point downward, the renderer sees only
 * the contract, main/core and below never touch Electron, features never import main/core (the
 * composition root). `--max-warnings 0` keeps it so.
 */
/** The renderer's feature folders (one per page); each stands alone, sharing only through ui/ and app/. */
const rendererFeatures = readdirSync(new URL('./src/renderer/src/features', import.meta.url), {
  withFileTypes: true,
})
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)

const nodeBuiltins = [
  'node:*',
  'fs',
  'path',
  'os',
  'child_process',
  'worker_threads',
  'net',
  'http',
  'crypto',
]

export default tseslint.config(
  { ignores: ['out/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', '.scratch-*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: ['tsconfig.node.json', 'tsconfig.web.json'],
          noWarnOnMultipleProjects: true,
        }),
      ],
    },
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './src/shared',
              from: ['./src/main', './src/preload', './src/renderer'],
              message: 'src/shared imports nothing of ours: it is the contract both sides depend on.',
            },
            {
              target: './src/renderer',
              from: ['./src/main', './src/preload'],
              message: 'The renderer reaches the main process only through the contract in src/shared.',
            },
            {
              target: ['./src/main', './src/preload'],
              from: './src/renderer',
              message: 'Nothing imports the renderer.',
            },
            {
              target: './src/preload',
              from: ['./src/main'],
              message: 'The preload exposes the contract transport and nothing else.',
            },
            {
              target: './src/main/scoring',
              from: [
                './src/main/store',
                './src/main/pipeline',
                './src/main/host',
                './src/main/core',
                './src/main/analysis',
                './src/main/triage',
                './src/main/security',
                './src/main/secrets',
                './src/main/commands',
                './src/main/threads',
              ],
              message: 'Scoring is pure: no I/O layers.',
            },
            {
              target: [
                './src/main/triage',
                './src/main/analysis',
                './src/main/security',
                './src/main/pipeline',
                './src/main/scoring',
                './src/main/store',
                './src/main/secrets',
                './src/main/threads',
              ],
              from: './src/main/core',
              message:
                'Features never import core/: the composition root (core/router.ts) hands them the narrow scope they use (store/scope.ts).',
            },
            {
              target: './src/main/analysis',
              from: './src/main/triage',
              message:
                'Analysis never imports triage: what it needs of triage (publishing rules) is handed in by core/router.ts.',
            },
            ...rendererFeatures.map((feature) => ({
              target: `./src/renderer/src/features/${feature}`,
              from: './src/renderer/src/features',
              except: [`./${feature}`],
              message:
                'A renderer feature never imports another: what pages share lives in ui/ (badges, splitter, grid theme, chart, formatters) or app/ (navigation, the live feed).',
            })),
            {
              target: './src/renderer/src/ui',
              from: ['./src/renderer/src/features', './src/renderer/src/app'],
              message: 'ui/ holds shared pieces only: it imports no feature and no app state.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeBuiltins, 'electron', 'react', 'react-dom'],
              message: 'src/shared is pure TypeScript: no Node, DOM or Electron.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/main/**/*.ts'],
    ignores: ['src/main/index.ts', 'src/main/window-state.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'electron',
              message:
                'Only the Electron shell (src/main/index.ts) may import electron; main/core and below run headless too.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/main/scoring/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeBuiltins, 'electron', 'pg', 'ioredis', '@electric-sql/*', '@duckdb/*', 'kysely'],
              message: 'Scoring is pure and deterministic: no I/O.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/renderer/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeBuiltins, 'electron'],
              message: 'The renderer runs in a sandboxed page: no Node, no Electron.',
            },
          ],
        },
      ],
    },
  },
  {
    // Playwright fixtures declare their dependencies with an object pattern, empty for a root fixture.
    files: ['e2e/**/*.ts'],
    rules: { 'no-empty-pattern': 'off' },
  },
  {
    files: ['src/preload/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
  prettier,
)
