import { main } from '../../src/main/cli'

/** `aether` from source, for tests that run the CLI as a real process: `node --import tsx test/support/aether-cli.ts …`. */
process.exitCode = await main(process.argv)
