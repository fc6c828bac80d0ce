/**
 * The part of `pg` (8.x) this library uses. The package ships no types and
 * @types/pg is not installed in this workspace; once it is, delete this file
 * and the `/// <reference>` lines that pull it into consumers' programs.
 */
declare module 'pg' {
  import { EventEmitter } from 'node:events';

  export interface ClientConfig {
    connectionString?: string;
    connectionTimeoutMillis?: number;
  }

  export interface QueryResult<R> {
    rows: R[];
    rowCount: number | null;
  }

  export class Client extends EventEmitter {
    constructor(config?: string | ClientConfig);
    connect(): Promise<void>;
    query<R = Record<string, unknown>>(
      text: string,
      values?: unknown[],
    ): Promise<QueryResult<R>>;
    end(): Promise<void>;
  }
}
