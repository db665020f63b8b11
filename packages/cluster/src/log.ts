import type { ClusterLog } from './types.js';

/** Used when no logger is given: problems still surface, routine events stay quiet. */
export const fallbackLog: ClusterLog = {
  warn(obj, msg) {
    console.warn(msg ?? 'cluster warning', obj);
  },
  info() {},
};

/**
 * What may be logged about an error: its kind and code. Connection error messages carry host
 * addresses, so they stay out; Redis reply errors (script or type errors) carry neither.
 */
export function describeError(error: unknown): { error: string; code?: string; detail?: string } {
  if (!(error instanceof Error)) return { error: typeof error };
  const code = (error as { code?: unknown }).code;
  return {
    error: error.name,
    ...(typeof code === 'string' ? { code } : {}),
    ...(error.name === 'ReplyError' ? { detail: error.message } : {}),
  };
}

/** Handler errors are bugs in the calling code; their message is what makes them fixable. */
export function describeHandlerError(error: unknown): { error: string; detail?: string } {
  return error instanceof Error ? { error: error.name, detail: error.message } : { error: typeof error };
}
