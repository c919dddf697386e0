/** Error codes shared by every datastore implementation and the layers above. */
export type DatastoreErrorCode = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Unavailable' | 'Invalid';

export class DatastoreError extends Error {
  constructor(
    readonly code: DatastoreErrorCode,
    message: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = 'DatastoreError';
  }
}

/** Bad input from a user or another process: names the field and the reason. */
export class ValidationError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = 'ValidationError';
  }
}

export const isCode = (e: unknown, code: DatastoreErrorCode): boolean =>
  e instanceof DatastoreError && e.code === code;
