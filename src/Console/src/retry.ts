import { ApiError } from './api';

/** Reads wait for an API that says when to come back (429, 503 with Retry-After) up to this long per wait; a longer
 * wait is shown as the error instead of a page that seems to hang. */
export const longestRetryWaitMs = 30_000;

const attemptsWhenToldWhen = 3;
const attemptsOnServerError = 2;

/** Whether a read is tried again: a refusal (4xx) is an answer, shown at once, except a 429 that says when to retry;
 * a 503 with Retry-After is waited out too; other server errors and network failures are retried twice. */
export function shouldRetry(failures: number, error: unknown): boolean {
  if (error instanceof ApiError) {
    if (error.retryAfterMs !== undefined && (error.status === 429 || error.status === 503)) {
      return error.retryAfterMs <= longestRetryWaitMs && failures < attemptsWhenToldWhen;
    }
    if (error.status < 500) return false;
  }
  return failures < attemptsOnServerError;
}

/** How long before the next try: what the API said, else TanStack Query's exponential back-off. */
export function retryDelay(failures: number, error: unknown): number {
  if (error instanceof ApiError && error.retryAfterMs !== undefined) return error.retryAfterMs;
  return Math.min(1000 * 2 ** failures, 30_000);
}
