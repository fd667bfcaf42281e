// Runs a function under a temporary setting and undoes it afterwards, also when the function is async
// (then on settling) or throws.
export function withRestore<T>(fn: () => T, restore: () => void): T {
  let result: T;
  try {
    result = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}
