import { Refusal } from '../errors'

/** Datasets failures an analyst can act on: refusals, so each reaches the UI as the contract's typed error. */

export class DatasetNotFoundError extends Refusal {
  override readonly name = 'DatasetNotFoundError'
  constructor(message: string) {
    super('NOT_FOUND', message)
  }
}

/** The request does not fit the dataset: an analysis of a file without PaySim's columns, an export over a file. */
export class DatasetConflictError extends Refusal {
  override readonly name = 'DatasetConflictError'
  constructor(message: string) {
    super('CONFLICT', message)
  }
}
