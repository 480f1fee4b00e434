/**
 * A webhook poster in a process of its own, as `aether worker` runs one, for tests that kill it:
 * `node --import tsx test/support/webhook-poster-process.ts <postgres-url> <lease-ms>`. Says "ready".
 */
import { openPostgresStore } from '../../src/main/store/store'
import { WebhookPoster } from '../../src/main/triage/webhook-poster'

const [url, leaseMs] = process.argv.slice(2)
const store = openPostgresStore({ connectionString: url as string, max: 2 })
const poster = new WebhookPoster({ db: store.db, holder: 'doomed', leaseMs: Number(leaseMs), pollMs: 50 })
await poster.start()
console.log('ready')
