// The `default` of a switch over a union: adding a member to the union makes the switch fail to compile here,
// so the compiler lists every place a new kind must be handled.

/** Throws for a value the types say cannot occur (a plan or file edited by hand can still hold one). */
export function unreachable(value: never, what: string): never {
  throw new Error(`unreachable: unhandled ${what} ${JSON.stringify(value)}`);
}
