/**
 * PGlite is ONE connection: two transactions in flight at once would interleave their
 * statements inside each other. On PGlite every database operation of the registry
 * therefore runs through this gate, one at a time. A PostgreSQL server isolates
 * transactions itself, so there the gate lets everything through.
 */
export class DbGate {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(readonly serialize: boolean) {}

  run<T>(operation: () => Promise<T>): Promise<T> {
    if (!this.serialize) return operation();
    const result = this.tail.then(operation, operation);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
