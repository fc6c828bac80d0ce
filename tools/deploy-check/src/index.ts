// Offline checks of the deployment files (docker-compose.yml, deploy/k8s,
// deploy/otel-collector) against the apps: the readers here, the checks in the specs.
export { BUS_APPS, checkAppEnv, FOREIGN_ENV } from './lib/app-env';
export type { AppCheck, AppName } from './lib/app-env';
export {
  dependencies,
  healthTest,
  loadCompose,
  mounts,
  publishedPorts,
  serviceEnv,
} from './lib/compose';
export type { ComposeFile, ComposeService, LoadedCompose } from './lib/compose';
export { isNumericNonRoot, parseDockerfile } from './lib/dockerfile';
export type { Dockerfile, DockerStage } from './lib/dockerfile';
export { interpolate, InterpolationError } from './lib/interpolate';
export {
  containerEnv,
  containerPort,
  find,
  loadManifests,
  schemaProblem,
  workloads,
} from './lib/k8s';
export type { Manifest, Workload } from './lib/k8s';
export { PATHS, REPO } from './lib/repo';
export { parseDockerMemory, parseQuantity } from './lib/sizes';
