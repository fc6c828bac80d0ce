import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IContainer, IProbe, IVolume } from 'kubernetes-models/v1';
import { parse } from 'yaml';

import { CLUSTER_APPS } from '@portfolio/testing';

import { BUS_APPS, checkAppEnv, type AppName } from './lib/app-env';
import { isNumericNonRoot, parseDockerfile } from './lib/dockerfile';
import {
  containerEnv,
  containerPort,
  find,
  KUSTOMIZATION,
  loadManifests,
  schemaProblem,
  workloads,
  type Workload,
} from './lib/k8s';
import { PATHS } from './lib/repo';
import { parseQuantity } from './lib/sizes';

const GIB = 1024 ** 3;
const manifests = loadManifests(PATHS.k8s);
const kustomization = parse(
  readFileSync(join(PATHS.k8s, KUSTOMIZATION), 'utf8'),
) as {
  namespace: string;
  resources: string[];
  images: { name: string; newName?: string; newTag?: string }[];
};
const NAMESPACE = kustomization.namespace;
const dockerfile = parseDockerfile(readFileSync(PATHS.dockerfile, 'utf8'));
const all = workloads(manifests);

interface AppPod {
  readonly workload: Workload;
  readonly container: IContainer;
  readonly app: AppName;
  readonly podName: string;
  /** The container's whole environment: the image's ENV, then the pod's. */
  readonly env: Readonly<Record<string, string>>;
  readonly envProblems: readonly string[];
}

/** One entry per app pod name (a StatefulSet's every ordinal; one for a Deployment). */
const appPods: AppPod[] = all.flatMap((workload) =>
  (workload.template.spec?.containers ?? []).flatMap((container) => {
    const app = /^portfolio-(.+)$/.exec(container.image ?? '')?.[1] as
      | AppName
      | undefined;
    if (!app) return [];
    const image = dockerfile.stages.has(app) ? dockerfile.image(app).env : {};
    return workload.podNames.map((podName) => {
      const { env, problems } = containerEnv(
        container,
        podName,
        NAMESPACE,
        manifests,
      );
      return {
        workload,
        container,
        app,
        podName,
        env: { ...image, ...env },
        envProblems: problems.map((p) => `${podName}: ${p}`),
      };
    });
  }),
);

function configOf(p: AppPod) {
  const { config, problems } = checkAppEnv(p.app, p.env, p.podName);
  if (!config) throw new Error(problems.join('\n'));
  return config;
}

function podOf(app: AppName): AppPod {
  const pod = appPods.find((p) => p.app === app);
  if (!pod) throw new Error(`no ${app} pod`);
  return pod;
}

const labelsMatch = (
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>> | undefined,
) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function bytes(q: string | number | undefined): number {
  return q === undefined ? NaN : parseQuantity(q);
}

describe('deploy/k8s', () => {
  it("is valid against the Kubernetes schemas (kubernetes-models' validate())", () => {
    expect(manifests.length).toBeGreaterThan(10);
    expect(manifests.map(schemaProblem).filter((p) => p !== null)).toEqual([]);
  });

  it('is one kustomization of every file, into one namespace, with every app image mapped', () => {
    const files = readdirSync(PATHS.k8s)
      .filter((f) => f.endsWith('.yaml') && f !== KUSTOMIZATION)
      .sort();
    expect([...kustomization.resources].sort()).toEqual(files);
    expect(find(manifests, 'Namespace', NAMESPACE)).toBeDefined();
    // Objects do not pick namespaces of their own.
    expect(
      manifests.filter(
        (m) => (m.object['metadata'] as { namespace?: string }).namespace,
      ),
    ).toEqual([]);
    const images = appPods.map((p) => p.container.image);
    expect([...new Set(images)].sort()).toEqual(
      kustomization.images.map((i) => i.name).sort(),
    );
  });

  it('names each object once per kind', () => {
    const keys = manifests.map((m) => `${m.kind}/${m.name}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });

  it('runs the apps of the compose stack and of the end-to-end topology', () => {
    expect([...new Set(appPods.map((p) => p.app))].sort()).toEqual(
      [...CLUSTER_APPS].sort(),
    );
  });

  it('meets the restricted Pod Security Standard, with read-only root filesystems', () => {
    const allowedVolumes = [
      'emptyDir',
      'persistentVolumeClaim',
      'configMap',
      'secret',
      'projected',
      'downwardAPI',
    ];
    const problems = all.flatMap(({ manifest, template }) => {
      const spec = template.spec;
      const pod = spec?.securityContext ?? {};
      const where = `${manifest.kind} ${manifest.name}`;
      const out: string[] = [];
      if (spec?.automountServiceAccountToken !== false)
        out.push(`${where}: mounts a service account token`);
      if (spec?.hostNetwork || spec?.hostPID || spec?.hostIPC)
        out.push(`${where}: shares a host namespace`);
      if (pod.seccompProfile?.type !== 'RuntimeDefault')
        out.push(`${where}: no RuntimeDefault seccomp profile`);
      for (const v of spec?.volumes ?? [])
        if (
          !Object.keys(v).every(
            (k) => k === 'name' || allowedVolumes.includes(k),
          )
        )
          out.push(
            `${where}: volume ${v.name} is of a kind restricted pods may not use`,
          );
      for (const c of [
        ...(spec?.initContainers ?? []),
        ...(spec?.containers ?? []),
      ]) {
        const sc = c.securityContext ?? {};
        const runAsNonRoot = sc.runAsNonRoot ?? pod.runAsNonRoot;
        const uid = sc.runAsUser ?? pod.runAsUser;
        if (runAsNonRoot !== true || uid === 0)
          out.push(`${where}/${c.name}: may run as root`);
        if (sc.allowPrivilegeEscalation !== false)
          out.push(`${where}/${c.name}: allows privilege escalation`);
        if (sc.privileged) out.push(`${where}/${c.name}: privileged`);
        if (
          !(sc.capabilities?.drop ?? []).includes('ALL') ||
          (sc.capabilities?.add ?? []).length > 0
        )
          out.push(`${where}/${c.name}: keeps capabilities`);
        if (sc.readOnlyRootFilesystem !== true)
          out.push(`${where}/${c.name}: writable root filesystem`);
      }
      return out;
    });
    expect(problems).toEqual([]);
    const ns = find(manifests, 'Namespace', NAMESPACE)?.object['metadata'] as {
      labels?: Record<string, string>;
    };
    expect(ns.labels?.['pod-security.kubernetes.io/enforce']).toBe(
      'restricted',
    );
  });

  it('requests resources for every container and limits its memory', () => {
    const problems = all.flatMap(({ manifest, template }) =>
      (template.spec?.containers ?? []).flatMap((c) => {
        const r = c.resources;
        return r?.requests?.['cpu'] &&
          r.requests['memory'] &&
          r.limits?.['memory']
          ? bytes(r.requests['memory']) <= bytes(r.limits['memory'])
            ? []
            : [
                `${manifest.name}/${c.name}: requests more memory than its limit`,
              ]
          : [
              `${manifest.name}/${c.name}: missing cpu/memory requests or a memory limit`,
            ];
      }),
    );
    expect(problems).toEqual([]);
  });

  describe('the apps', () => {
    it("run their Dockerfile target's image as its user, with the image's command", () => {
      const problems = appPods.flatMap(({ workload, container, app }) => {
        const where = `${workload.manifest.name}/${container.name}`;
        if (!dockerfile.stages.has(app))
          return [`${where}: no Dockerfile target ${app}`];
        const image = dockerfile.image(app);
        const uid = Number(image.user?.split(':')[0]);
        const runAs =
          container.securityContext?.runAsUser ??
          workload.template.spec?.securityContext?.runAsUser;
        return [
          ...(isNumericNonRoot(image.user) && runAs === uid
            ? []
            : [`${where}: runs as ${runAs}, the image as ${image.user}`]),
          ...(container.command || container.args
            ? [`${where}: overrides the image's command`]
            : []),
        ];
      });
      expect(problems).toEqual([]);
    });

    it('resolve every variable (ConfigMaps, Secrets, the pod name)', () => {
      expect(appPods.flatMap((p) => p.envProblems)).toEqual([]);
    });

    it('set only variables the apps read, and everything each app needs to start', () => {
      expect(
        appPods.flatMap((p) => checkAppEnv(p.app, p.env, p.podName).problems),
      ).toEqual([]);
    });

    it('probe the gateway over HTTP (ready: /v1/health; live: /v2/health/live) on its port', () => {
      const pod = podOf('gateway');
      const port = configOf(pod).gateway.port;
      const probe = (p: IProbe | undefined) =>
        p?.httpGet
          ? {
              path: p.httpGet.path,
              port: containerPort(pod.container, p.httpGet.port),
            }
          : null;
      expect(probe(pod.container.readinessProbe)).toEqual({
        path: '/v1/health',
        port,
      });
      expect(probe(pod.container.livenessProbe)).toEqual({
        path: '/v2/health/live',
        port,
      });
      expect(probe(pod.container.startupProbe)).toEqual({
        path: '/v2/health/live',
        port,
      });
      expect(containerPort(pod.container, 'grpc')).toBe(
        configOf(pod).gateway.grpcPort,
      );
    });

    it("probe the bus services with the image's healthcheck.js, within its time", () => {
      const scriptMs = Number(
        /const TIMEOUT_MS = (\d+)/.exec(
          readFileSync(PATHS.healthcheck, 'utf8'),
        )?.[1],
      );
      const problems = appPods
        .filter((p) => BUS_APPS.includes(p.app))
        .flatMap(({ container, podName }) =>
          (
            ['startupProbe', 'readinessProbe', 'livenessProbe'] as const
          ).flatMap((kind) => {
            const p = container[kind];
            if (
              JSON.stringify(p?.exec?.command) !==
              '["node","/app/healthcheck.js"]'
            )
              return [`${podName}: ${kind} ${JSON.stringify(p)}`];
            return (p?.timeoutSeconds ?? 1) * 1000 > scriptMs
              ? []
              : [`${podName}: ${kind} times out before the script does`];
          }),
        );
      expect(problems).toEqual([]);
    });

    it('announce the metrics port of each bus service to Prometheus', () => {
      const problems = appPods
        .filter((p) => BUS_APPS.includes(p.app))
        .flatMap((p) => {
          const port = configOf(p).metrics.port;
          const annotations = p.workload.template.metadata?.annotations ?? {};
          const out: string[] = [];
          if (containerPort(p.container, 'metrics') !== port)
            out.push(`${p.podName}: no container port "metrics" = ${port}`);
          if (
            annotations['prometheus.io/scrape'] !== 'true' ||
            annotations['prometheus.io/port'] !== String(port) ||
            annotations['prometheus.io/path'] !== '/metrics'
          )
            out.push(
              `${p.podName}: prometheus.io annotations ${JSON.stringify(annotations)}`,
            );
          return out;
        });
      expect(problems).toEqual([]);
    });

    it('reach NATS, PostgreSQL and MinIO through Services of these manifests', () => {
      const problems = appPods.flatMap((p) =>
        [
          'PORTFOLIO_NATS_URL',
          'PORTFOLIO_DATABASE_URL',
          'PORTFOLIO_STORAGE_S3_ENDPOINT',
        ]
          .filter((v) => p.env[v])
          .flatMap((v) => {
            const url = new URL(p.env[v]);
            const service = find(manifests, 'Service', url.hostname);
            const ports = (
              (service?.object['spec'] as { ports?: { port: number }[] })
                ?.ports ?? []
            ).map((x) => String(x.port));
            return ports.includes(url.port)
              ? []
              : [
                  `${p.podName}: ${v} is ${url.host}, which no Service here serves`,
                ];
          }),
      );
      expect(problems).toEqual([]);
    });
  });

  describe('the runtimes', () => {
    const runtimes = appPods.filter((p) => p.app === 'runtime');

    it('are a StatefulSet behind a headless Service, each named by its node id', () => {
      const sts = runtimes[0].workload.manifest;
      expect(sts.kind).toBe('StatefulSet');
      const serviceName = (sts.object['spec'] as { serviceName: string })
        .serviceName;
      const headless = find(manifests, 'Service', serviceName)?.object[
        'spec'
      ] as {
        clusterIP?: string;
        selector: Record<string, string>;
      };
      expect(headless.clusterIP).toBe('None');
      expect(
        labelsMatch(
          headless.selector,
          runtimes[0].workload.template.metadata?.labels,
        ),
      ).toBe(true);
      const nodeIds = runtimes.map((p) => configOf(p).runtime.nodeId);
      expect(nodeIds).toEqual(runtimes[0].workload.podNames);
      expect(new Set(nodeIds).size).toBe(runtimes.length);
      expect(runtimes.length).toBeGreaterThan(1);
    });

    it('get a memory limit of their model budget plus 1 GiB or more, and request all of it', () => {
      const pod = runtimes[0];
      const budget = configOf(pod).runtime.maxMemoryBytes;
      const { limits, requests } = pod.container.resources ?? {};
      expect(bytes(limits?.['memory']) - budget).toBeGreaterThanOrEqual(GIB);
      expect(bytes(requests?.['memory'])).toBe(bytes(limits?.['memory']));
    });

    it('keep their artifact cache on a volume claim of their own, with room for it', () => {
      const pod = runtimes[0];
      const { artifactCache, maxMemoryBytes } = configOf(pod).runtime;
      const mount = (pod.container.volumeMounts ?? [])
        .filter((m) => artifactCache.dir.startsWith(`${m.mountPath}/`))
        .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
      // Below the mount, not at it: a volume's root may hold lost+found, which the cache
      // would take for an entry.
      expect(mount).toBeDefined();
      const claims =
        (
          pod.workload.manifest.object['spec'] as {
            volumeClaimTemplates?: {
              metadata: { name: string };
              spec: { resources: { requests: { storage: string } } };
            }[];
          }
        ).volumeClaimTemplates ?? [];
      const claim = claims.find((c) => c.metadata.name === mount?.name);
      expect(claim).toBeDefined();
      expect(
        bytes(claim?.spec.resources.requests.storage),
      ).toBeGreaterThanOrEqual(artifactCache.maxBytes + maxMemoryBytes);
    });
  });

  it("gives storage a memory limit of its trial loads' budget plus 1 GiB or more", () => {
    const pod = podOf('storage');
    const budget = configOf(pod).storage.trialLoad.maxMemoryBytes;
    expect(
      bytes(pod.container.resources?.limits?.['memory']) - budget,
    ).toBeGreaterThanOrEqual(GIB);
  });

  describe('the gateway', () => {
    it('is a Deployment behind a Service of its ports, scaled by an HPA on CPU', () => {
      const pod = podOf('gateway');
      const deployment = pod.workload.manifest;
      expect(deployment.kind).toBe('Deployment');
      const hpa = manifests.find((m) => m.kind === 'HorizontalPodAutoscaler');
      expect(hpa?.apiVersion).toBe('autoscaling/v2');
      const spec = hpa?.object['spec'] as {
        scaleTargetRef: { apiVersion: string; kind: string; name: string };
        minReplicas: number;
        maxReplicas: number;
        metrics: { type: string; resource?: { name: string } }[];
      };
      expect(spec.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: deployment.name,
      });
      expect(spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(spec.maxReplicas).toBeGreaterThan(spec.minReplicas);
      expect(spec.metrics.map((m) => m.resource?.name)).toEqual(['cpu']);
      // Utilization is a share of the request: without one the HPA cannot act.
      expect(pod.container.resources?.requests?.['cpu']).toBeDefined();
    });
  });

  it('has every Service select pods and name ports they have', () => {
    const problems = manifests
      .filter((m) => m.kind === 'Service')
      .flatMap((s) => {
        const spec = s.object['spec'] as {
          selector: Record<string, string>;
          ports: { name: string; targetPort: string | number }[];
        };
        const selected = all.filter((w) =>
          labelsMatch(spec.selector, w.template.metadata?.labels),
        );
        if (selected.length !== 1)
          return [`Service ${s.name} selects ${selected.length} workloads`];
        const containers = selected[0].template.spec?.containers ?? [];
        return spec.ports
          .filter(
            (p) =>
              !containers.some(
                (c) => containerPort(c, p.targetPort) !== undefined,
              ),
          )
          .map(
            (p) =>
              `Service ${s.name}: port ${p.name} targets ${p.targetPort}, which no container has`,
          );
      });
    expect(problems).toEqual([]);
  });

  it('mounts only volumes the pod declares, and writes only to volumes', () => {
    const problems = all.flatMap(({ manifest, template }) => {
      const spec = (manifest.object['spec'] ?? {}) as {
        volumeClaimTemplates?: { metadata: { name: string } }[];
      };
      const declared = new Set([
        ...(template.spec?.volumes ?? []).map((v: IVolume) => v.name),
        ...(spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name),
      ]);
      return (template.spec?.containers ?? []).flatMap((c) =>
        (c.volumeMounts ?? [])
          .filter((m) => !declared.has(m.name))
          .map(
            (m) =>
              `${manifest.name}/${c.name}: mounts ${m.name}, which is not declared`,
          ),
      );
    });
    expect(problems).toEqual([]);
    // The apps write under /data (data_dir, the storage work folder, the artifact cache)
    // and /tmp: both are volumes, the rest of the filesystem is read-only.
    const unwritable = appPods.flatMap((p) =>
      ['/data', '/tmp']
        .filter(
          (dir) =>
            !(p.container.volumeMounts ?? []).some((m) => m.mountPath === dir),
        )
        .map((dir) => `${p.podName}: ${dir} is not a volume`),
    );
    expect(unwritable).toEqual([]);
  });

  describe('secrets', () => {
    const secret = (name: string) =>
      (find(manifests, 'Secret', name)?.object['stringData'] ?? {}) as Record<
        string,
        string
      >;

    it('are placeholders, each listed in the header of secrets.yaml', () => {
      const text = readFileSync(join(PATHS.k8s, 'secrets.yaml'), 'utf8');
      const secrets = manifests.filter((m) => m.kind === 'Secret');
      expect(secrets.map((m) => m.file)).toEqual(
        secrets.map(() => 'secrets.yaml'),
      );
      const undocumented = secrets.flatMap((m) =>
        [m.name, ...Object.keys(secret(m.name))].filter(
          (word) => !new RegExp(`^#.*\\b${word}\\b`, 'm').test(text),
        ),
      );
      expect(undocumented).toEqual([]);
      expect(secret('portfolio-gateway')['admin-key']).toMatch(/CHANGE-ME/);
    });

    it("agree with one another: the database URL carries postgres.yaml's password", () => {
      const db = secret('portfolio-database');
      const url = new URL(db['database-url']);
      expect(decodeURIComponent(url.password)).toBe(db['postgres-password']);
      const postgres = all.find((w) => w.manifest.name === 'postgres')?.template
        .spec?.containers[0];
      const env = containerEnv(
        postgres as IContainer,
        'postgres-0',
        NAMESPACE,
        manifests,
      ).env;
      expect([env['POSTGRES_USER'], env['POSTGRES_DB']]).toEqual([
        url.username,
        url.pathname.slice(1),
      ]);
    });
  });

  it('creates the bucket the apps use, with the credentials they use', () => {
    const job = all.find(
      (w) => w.manifest.kind === 'Job' && w.manifest.name === 'minio-init',
    );
    const container = job?.template.spec?.containers[0] as IContainer;
    const { env } = containerEnv(
      container,
      'minio-init-x',
      NAMESPACE,
      manifests,
    );
    const storage = podOf('storage').env;
    expect(env['BUCKET']).toBe(storage['PORTFOLIO_STORAGE_S3_BUCKET']);
    expect([env['MINIO_ROOT_USER'], env['MINIO_ROOT_PASSWORD']]).toEqual([
      storage['AWS_ACCESS_KEY_ID'],
      storage['AWS_SECRET_ACCESS_KEY'],
    ]);
    expect(container.args?.[0]).toMatch(
      /mc alias set stack http:\/\/minio:9000 .*&& mc mb --ignore-existing "stack\/\$BUCKET"/,
    );
  });
});
