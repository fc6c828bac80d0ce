import { z } from 'zod';

import { CacheManager } from './messages/cache.messages';
import { Registry } from './messages/registry.messages';
import { inferSubject, Runtime } from './messages/runtime.messages';
import { ingestChunkSubject, Storage } from './messages/storage.messages';
import {
  event,
  EventDefinition,
  RpcDefinition,
  serviceRpc,
  targetedRpc,
} from './rpc';

type Definition = RpcDefinition<unknown, unknown> | EventDefinition<unknown>;

const GROUPS: Record<string, Record<string, Definition>> = {
  registry: Registry,
  storage: Storage,
  runtime: Runtime,
  cache: CacheManager,
};

/** Every subject a deployment with prefix `pf` uses, addressing node or instance `n1`. */
function subjects(): { name: string; subject: string; queue: string | null }[] {
  return Object.entries(GROUPS).flatMap(([service, group]) =>
    Object.entries(group).map(([key, def]) => ({
      name: `${service}.${key}`,
      subject:
        def.kind === 'event' || def.queue !== null
          ? def.subject('pf')
          : def.subject('pf', 'n1'),
      queue: def.kind === 'rpc' ? def.queue : null,
    })),
  );
}

describe('subject builders', () => {
  const Req = z.object({ a: z.number() });

  it('puts a service-wide subject under the prefix, answered by its queue group', () => {
    const def = serviceRpc('thing.do.v1', 'things', Req, Req);

    expect(def.subject('pf-test')).toBe('pf-test.thing.do.v1');
    expect(def.queue).toBe('things');
    expect(def.kind).toBe('rpc');
  });

  it('puts the target after the service in a targeted subject, with no queue group', () => {
    const def = targetedRpc('runtime', 'load.v1', Req, Req);

    expect(def.subject('pf', 'runtime-a')).toBe('pf.runtime.runtime-a.load.v1');
    expect(def.queue).toBeNull();
    expect(def.name).toBe('runtime.<target>.load.v1');
  });

  it('refuses to build a targeted subject without a target', () => {
    const def = targetedRpc('runtime', 'load.v1', Req, Req);

    expect(() => def.subject('pf')).toThrow(
      'runtime.load.v1 needs a target instance',
    );
    expect(() => def.subject('pf', '')).toThrow('needs a target instance');
  });

  it('puts an event under the prefix', () => {
    expect(event('x.happened.v1', Req).subject('pf')).toBe('pf.x.happened.v1');
  });
});

describe('the subjects of every message', () => {
  it('are all different, versioned, and under the prefix', () => {
    const all = subjects();
    const seen = new Map<string, string>();
    for (const { name, subject } of all) {
      expect({ name, duplicateOf: seen.get(subject) }).toEqual({
        name,
        duplicateOf: undefined,
      });
      seen.set(subject, name);
      expect(subject).toMatch(/^pf\.[a-z0-9.-]+\.v1$/);
    }
    expect(seen.has(inferSubject('pf', 'n1'))).toBe(false);
    expect(seen.has(ingestChunkSubject('pf', 'n1'))).toBe(false);
  });

  it("address a runtime's calls, inference included, under pf.runtime.<node>.", () => {
    const targeted = subjects().filter(
      (s) => s.name.startsWith('runtime.') && s.subject.includes('.n1.'),
    );

    expect(targeted.map((s) => s.name).sort()).toEqual([
      'runtime.load',
      'runtime.ping',
      'runtime.unload',
    ]);
    for (const { subject } of targeted)
      expect(subject.startsWith('pf.runtime.n1.')).toBe(true);
    expect(inferSubject('pf', 'n1').startsWith('pf.runtime.n1.')).toBe(true);
  });

  it('give every service-wide call the queue group of its service, so one instance answers', () => {
    const groups = subjects()
      .filter((s) => s.queue !== null)
      .map((s) => [s.name.split('.')[0], s.queue]);

    expect(groups.length).toBeGreaterThan(0);
    for (const [service, queue] of groups)
      expect(queue).toBe(service === 'cache' ? 'cache-manager' : service);
  });
});
