import { resolve } from 'node:path';

/** The repository root (this file is tools/deploy-check/src/lib/repo.ts). */
export const REPO = resolve(__dirname, '../../../..');

export const PATHS = {
  compose: resolve(REPO, 'docker-compose.yml'),
  dockerfile: resolve(REPO, 'deploy/docker/Dockerfile'),
  healthcheck: resolve(REPO, 'deploy/docker/healthcheck.js'),
  k8s: resolve(REPO, 'deploy/k8s'),
  otelCollector: resolve(REPO, 'deploy/otel-collector/config.yaml'),
  apps: resolve(REPO, 'apps'),
} as const;
