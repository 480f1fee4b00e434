import { describe, expect, it } from 'vitest'
import { DATASET_FORMATS } from './datasets-contract'
import { DATASET_FILE_FILTERS, isDatasetFileName } from './desktop-shell'

const EXAMPLE_OF_FORMAT = { csv: 'paysim.csv', 'csv.gz': 'paysim.csv.gz', parquet: 'paysim.parquet' } as const

describe('the dataset file dialog', () => {
  it('offers every format the import reads, in its first filter', () => {
    for (const format of DATASET_FORMATS) expect(isDatasetFileName(EXAMPLE_OF_FORMAT[format])).toBe(true)
    expect(isDatasetFileName('PaySim.CSV')).toBe(true)
  })

  it('gives extensions as Electron reads them: no dots, no wildcards', () => {
    for (const filter of DATASET_FILE_FILTERS)
      for (const extension of filter.extensions) expect(extension).toMatch(/^[a-z0-9]+$/)
  })

  it('leaves out files that are not datasets', () => {
    for (const name of ['notes.txt', 'report.pdf', 'csv', 'archive.zip', 'paysim.csv.bak'])
      expect(isDatasetFileName(name)).toBe(false)
  })
})
