import { Command, CommanderError } from 'commander'
import { registerAnalyst } from './commands/analyst'
import { registerApiKey } from './commands/apikey'
import { registerBacktest } from './commands/backtest'
import { registerGateway } from './commands/gateway'
import { registerMigrate } from './commands/migrate'
import { registerReplay } from './commands/replay'
import { registerServe } from './commands/serve'
import { registerWorker } from './commands/worker'
import { APP_VERSION } from './core/version'

/** `aether`: the workstation's command line. Every command has --help; errors are one readable line. */
export function buildCli(): Command {
  const program = new Command('aether')
    .description('Aether Workstation: the fraud analyst’s desktop, its workers and tools')
    .version(APP_VERSION)
    .showHelpAfterError('(run with --help for usage)')
  registerMigrate(program)
  registerAnalyst(program)
  registerServe(program)
  registerReplay(program)
  registerWorker(program)
  registerBacktest(program)
  registerGateway(program)
  registerApiKey(program)
  return program
}

export async function main(argv: string[]): Promise<number> {
  const program = buildCli().exitOverride()
  try {
    await program.parseAsync(argv)
    return 0
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode
    console.error(`aether: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  }
}
