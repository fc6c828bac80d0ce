export { configFromArgv } from './lib/config-from-argv';
export {
  closeOnSignals,
  connectNats,
  logLevels,
  messagingModule,
  runBusService,
} from './lib/run-service';
