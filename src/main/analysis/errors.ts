/** Datasets failures an analyst can act on; the datasets router turns each into the contract's typed error. */

export class DatasetNotFoundError extends Error {
  override readonly name = 'DatasetNotFoundError'
}

/** The request does not fit the dataset: an analysis of a file without PaySim's columns, an export over a file. */
export class DatasetConflictError extends Error {
  override readonly name = 'DatasetConflictError'
}
