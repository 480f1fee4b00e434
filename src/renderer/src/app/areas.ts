export const AREAS = [
  { id: 'transactions', label: 'Transactions' },
  { id: 'cases', label: 'Cases' },
  { id: 'dashboard', label: 'Dashboard' },
  { id: 'datasets', label: 'Datasets' },
  { id: 'rules', label: 'Rules' },
  { id: 'lists', label: 'Lists' },
  { id: 'settings', label: 'Settings' },
] as const

export type Area = (typeof AREAS)[number]
export type AreaId = Area['id']

export const DEFAULT_AREA: AreaId = 'transactions'

export function findArea(id: string): Area | undefined {
  return AREAS.find((area) => area.id === id)
}
