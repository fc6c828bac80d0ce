export { configFromArgv } from './lib/config-from-argv';
export { ensureDirectory } from './lib/ensure-directory';
export {
  announceReady,
  closeOnSignals,
  connectNats,
  messagingModule,
  runBusService,
} from './lib/run-service';
export { exitOnStartupError, StartupError } from './lib/startup-error';
export { useStructuredLogs } from './lib/structured-logs';
