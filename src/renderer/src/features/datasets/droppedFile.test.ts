import { describe, expect, it } from 'vitest'
import { droppedFile } from './droppedFile'

const file = (name: string) => new File(['step,type\n'], name)
const onDisk = (file: File) => `/data/${file.name}`

describe('a file dropped on the open panel', () => {
  it('opens by its path in the desktop app', () => {
    expect(droppedFile([file('paysim.csv.gz')], onDisk)).toEqual({ path: '/data/paysim.csv.gz' })
  })

  it('asks for the path to be typed in a browser, which cannot give it', () => {
    expect(droppedFile([file('paysim.csv')], undefined)).toEqual({
      note: 'A browser does not tell the page where paysim.csv is: type its path in the field above.',
    })
  })

  it('refuses several files, other kinds of file, and files that are not on disk', () => {
    expect(droppedFile([file('a.csv'), file('b.csv')], onDisk)).toEqual({ note: 'Drop one file at a time.' })
    expect(droppedFile([file('notes.txt')], onDisk)).toEqual({
      note: 'notes.txt is not a CSV, CSV.gz or Parquet file.',
    })
    expect(droppedFile([file('paysim.csv')], () => '')).toEqual({
      note: 'paysim.csv is not a file on this computer; save it to a folder first.',
    })
    expect(droppedFile([], onDisk)).toEqual({ note: 'Drop a file: a CSV, CSV.gz or Parquet file.' })
  })
})
