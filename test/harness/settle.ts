// For tests of "this call ends": a call that hangs fails its test with a clear message after a
// bound, instead of holding the whole file until the runner's timeout.

/** The promise's own outcome, or a rejection naming `what` when it has not settled within `ms`. */
export function settlesWithin<T>(promise: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), hang]).finally(() => clearTimeout(timer));
}
