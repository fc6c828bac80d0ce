import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
// eslint-disable-next-line no-restricted-imports -- Kubernetes' `apps` API group, not an app of ours
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  Namespace,
  Secret,
  Service,
  type IContainer,
  type IPodTemplateSpec,
} from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

/** One object of a manifest file. */
export interface Manifest {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly object: Readonly<Record<string, unknown>>;
}

/**
 * The kinds the manifests may hold, each with its kubernetes-models class: validate()
 * checks an object against the Kubernetes OpenAPI schema of its kind (types, formats,
 * enums, required fields). A kind missing here is refused, so that nothing goes
 * unvalidated.
 */
const MODELS: Readonly<
  Record<string, new (data: never) => { validate(): void }>
> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

export const KUSTOMIZATION = 'kustomization.yaml';

/** Every object of every `*.yaml` file in `dir` but the kustomization, in file order. */
export function loadManifests(dir: string): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.yaml') || file === KUSTOMIZATION) continue;
    const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
    if (!Array.isArray(docs)) throw new Error(`${file}: not YAML documents`);
    for (const doc of docs) {
      if (doc.errors.length > 0)
        throw new Error(
          `${file}: ${doc.errors.map((e) => e.message).join('; ')}`,
        );
      const object: unknown = doc.toJS();
      if (object === null || object === undefined) continue;
      if (typeof object !== 'object' || Array.isArray(object))
        throw new Error(`${file}: a document that is not an object`);
      const o = object as Record<string, unknown>;
      const metadata = (o['metadata'] ?? {}) as Record<string, unknown>;
      out.push({
        file,
        apiVersion: String(o['apiVersion']),
        kind: String(o['kind']),
        name: String(metadata['name']),
        object: o,
      });
    }
  }
  return out;
}

/** The schema's verdict on one object: null when valid, else why not. */
export function schemaProblem(m: Manifest): string | null {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (!Model)
    return `${m.file}: ${m.apiVersion} ${m.kind} is not a kind these checks validate`;
  try {
    new Model(m.object as never).validate();
    return null;
  } catch (e) {
    return `${m.file}: ${m.kind} ${m.name}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** A workload and the pod template it runs. */
export interface Workload {
  readonly manifest: Manifest;
  readonly template: IPodTemplateSpec;
  readonly replicas: number;
  /** The names its pods get (a StatefulSet's are stable: `<name>-<ordinal>`). */
  readonly podNames: readonly string[];
}

export function workloads(manifests: readonly Manifest[]): Workload[] {
  const out: Workload[] = [];
  for (const m of manifests) {
    const spec = (m.object['spec'] ?? {}) as Record<string, unknown>;
    const template = spec['template'] as IPodTemplateSpec | undefined;
    if (!template || !['Deployment', 'StatefulSet', 'Job'].includes(m.kind))
      continue;
    const replicas =
      m.kind === 'Job' ? 1 : ((spec['replicas'] as number | undefined) ?? 1);
    const podNames =
      m.kind === 'StatefulSet'
        ? Array.from({ length: replicas }, (_, i) => `${m.name}-${i}`)
        : [`${m.name}-5d8f7c9b6d-x7k2p`];
    out.push({ manifest: m, template, replicas, podNames });
  }
  return out;
}

/** The object of `kind` named `name`, if any. */
export function find(
  manifests: readonly Manifest[],
  kind: string,
  name: string,
): Manifest | undefined {
  return manifests.find((m) => m.kind === kind && m.name === name);
}

function dataOf(m: Manifest): Record<string, string> {
  if (m.kind === 'Secret') {
    const decoded = Object.entries(
      (m.object['data'] ?? {}) as Record<string, string>,
    ).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]);
    return {
      ...Object.fromEntries(decoded),
      ...((m.object['stringData'] ?? {}) as Record<string, string>),
    };
  }
  return (m.object['data'] ?? {}) as Record<string, string>;
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/**
 * A container's environment as Kubernetes builds it for the pod `podName`: envFrom
 * first, then env (which wins), `$(VAR)` expanded from variables defined before it,
 * values from ConfigMaps, Secrets and the pod's own fields. What cannot be resolved is
 * a problem (a missing ConfigMap, Secret or key: the pod would not start).
 */
export function containerEnv(
  container: IContainer,
  podName: string,
  namespace: string,
  manifests: readonly Manifest[],
): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  const source = (kind: 'ConfigMap' | 'Secret', name: string) => {
    const m = find(manifests, kind, name);
    if (!m) problems.push(`${kind} ${name} is not in the manifests`);
    return m ? dataOf(m) : {};
  };
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref?.name) continue;
    const data = source(from.configMapRef ? 'ConfigMap' : 'Secret', ref.name);
    for (const [k, v] of Object.entries(data)) {
      const name = `${from.prefix ?? ''}${k}`;
      if (ENV_NAME.test(name)) env[name] = v;
      else problems.push(`${ref.name}: ${name} is not a variable name`);
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = e.value.replace(
        /\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (whole, ref: string | undefined) => {
          if (ref === undefined) return '$';
          if (env[ref] === undefined) {
            problems.push(
              `${e.name} refers to $(${ref}), which is not defined before it`,
            );
            return whole;
          }
          return env[ref];
        },
      );
      continue;
    }
    const from = e.valueFrom;
    const keyRef = from?.configMapKeyRef ?? from?.secretKeyRef;
    if (keyRef) {
      const kind = from?.configMapKeyRef ? 'ConfigMap' : 'Secret';
      const value = source(kind, keyRef.name ?? '')[keyRef.key];
      if (value === undefined) {
        if (!keyRef.optional)
          problems.push(
            `${e.name}: ${kind} ${keyRef.name} has no key ${keyRef.key}`,
          );
      } else env[e.name] = value;
    } else if (from?.fieldRef) {
      const path = from.fieldRef.fieldPath;
      if (path === 'metadata.name') env[e.name] = podName;
      else if (path === 'metadata.namespace') env[e.name] = namespace;
      else
        problems.push(
          `${e.name}: fieldRef ${path} is not resolved by these checks`,
        );
    } else problems.push(`${e.name} has neither a value nor a source`);
  }
  return { env, problems };
}

/** A port of the container by name or number. */
export function containerPort(
  container: IContainer,
  port: string | number,
): number | undefined {
  const found = (container.ports ?? []).find((p) =>
    typeof port === 'number' ? p.containerPort === port : p.name === port,
  );
  return found?.containerPort;
}
