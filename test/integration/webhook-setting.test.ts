import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgresStore, type Store } from '../../src/main/store/store'
import { setWebhook, webhookSetting } from '../../src/main/triage/webhook'
import { openTeamDatabase, urlAs, type TeamDatabase } from '../security/support/team-database'

/**
 * The team webhook's URL is a credential only admins read (0021). Settings showed analysts and
 * supervisors nothing at all (the read failed); they now see whether one is set, by whom and when. And
 * an admin could neither set it (the app wrote updated_at, a column admins may not write) nor clear it
 * (no DELETE, 0023) on a team database.
 */

const URL_SET = 'https://hooks.slack.com/services/T000/B000/secret-token-0021'
let team: TeamDatabase
const stores: Store[] = []
const storeAs = (login: string) => {
  const store = openPostgresStore({ connectionString: urlAs(team.database.url, login), max: 1 })
  stores.push(store)
  return store
}

beforeAll(async () => {
  team = await openTeamDatabase()
}, 120_000)

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()))
  await team?.dispose()
})

describe('the team webhook in Settings', () => {
  it('shows admins the URL, and the others who set it and when, never the URL', async () => {
    const admin = storeAs(team.logins.admin)
    const analyst = storeAs(team.logins.analyst)
    expect(await webhookSetting(analyst.db)).toEqual({
      url: null,
      readable: false,
      set: false,
      setBy: null,
      setAt: null,
    })

    const saved = await setWebhook(admin.db, { url: URL_SET })
    expect(saved).toMatchObject({ url: URL_SET, readable: true, set: true, setBy: team.logins.admin })

    for (const login of [team.logins.analyst, team.logins.supervisor]) {
      const seen = await webhookSetting(storeAs(login).db)
      expect(seen).toEqual({
        url: null,
        readable: false,
        set: true,
        setBy: team.logins.admin,
        setAt: saved.setAt,
      })
      expect(JSON.stringify(seen)).not.toContain('secret-token')
    }

    // Cleared by the admin: no webhook, for everyone.
    expect(await setWebhook(admin.db, { url: null })).toMatchObject({ url: null, set: false })
    expect(await webhookSetting(analyst.db)).toMatchObject({ readable: false, set: false, setBy: null })
  })
})
