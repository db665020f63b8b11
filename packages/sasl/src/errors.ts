/** The SASL failure conditions of RFC 6120 §6.5, which the caller turns into `<failure/>` children. */
export type SaslCondition =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure';

export class SaslError extends Error {
  override readonly name = 'SaslError';

  constructor(
    readonly condition: SaslCondition,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? condition, options);
  }
}
